"""``radius-server web``: the HTTP API (and, later, the web pages) over the admin layer.

Every route calls ``radius_server.admin``; none touches the store directly, so
the CLI and the API cannot drift apart. See docs/architecture.md, "The HTTP API".
"""
