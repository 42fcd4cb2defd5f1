"""``radius-server web``: the HTTP API beside ``serve``, on the same database."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radius_server.cli.args import listen_port
from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError
from radius_server.config import with_overrides
from radius_server.logging import configure_logging, get_logger


def register(subparsers: Any) -> None:
    """Add ``web``."""
    web = subparsers.add_parser("web", help="run the HTTP API (default 127.0.0.1:8080)")
    web.add_argument("--host", help="address to bind ($RADIUS_WEB_HOST, default 127.0.0.1)")
    web.add_argument("--port", type=listen_port, help="TCP port ($RADIUS_WEB_PORT, default 8080)")
    web.set_defaults(handler=cmd_web)


def cmd_web(ctx: AppContext, args: argparse.Namespace) -> int:
    """web: log JSON events to stdout until SIGTERM or SIGINT (exit 0)."""
    settings = with_overrides(ctx.settings, web_host=args.host, web_port=args.port)
    ctx.require_database(may_create=False)
    # The schema is checked before listening: a database that is not migrated is a
    # message now, not a 503 on every request.
    ctx.sessions  # noqa: B018
    configure_logging(settings.log_format, settings.log_level, stream=sys.stdout)
    # Imported here: admin commands never need the web stack.
    from radius_server.web.server import run

    try:
        run(settings, get_logger())
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {settings.web_host}:{settings.web_port}: {exc.strerror}"
        ) from None
    return 0
