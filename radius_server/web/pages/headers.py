"""Security headers on every page (not on the API, whose clients are programs).

- Content-Security-Policy: only our own scripts, styles and images; no framing
  (clickjacking), forms post only to us.
- Referrer-Policy no-referrer: a one-time link's token in the address never
  leaves in a Referer header.
- Cache-Control no-store on HTML: a page with a PIN is not kept by the browser
  or a proxy; static files may be cached.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from radius_server.web.pages.errors import is_page

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
_ALWAYS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class PageHeaders:
    """ASGI middleware adding the headers above to responses for pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to a page's response."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not is_page(path):
            await self.app(scope, receive, send)
            return
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_ALWAYS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
