"""The session cookie: its name, flags and how it is set and cleared.

Flags (OWASP Session Management Cheat Sheet; RFC 6265bis 4.1.3 for the prefix):
HttpOnly (no script reads it), SameSite=Lax (a cross-site POST carries no cookie;
a link from an email still opens the page signed in), Secure whenever the
request came over HTTPS (uvicorn takes the scheme from X-Forwarded-Proto only
from ``web_trusted_proxies``), and then the ``__Host-`` prefix, which a browser
accepts only with Secure, Path=/ and no Domain, so no sibling subdomain can
plant or overwrite it. No Max-Age: the browser forgets it when closed, and the
server ends it anyway (idle and absolute expiry, docs/architecture.md "Web pages").
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

SESSION = "rs_session"
HOST_PREFIX = "__Host-"


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a trusted proxy)."""
    return request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    """``base`` with the ``__Host-`` prefix when the request is secure."""
    return HOST_PREFIX + base if is_secure(request) else base


def read_cookie(request: Request, base: str) -> str | None:
    """The cookie ``base`` under the name this request's scheme uses."""
    return request.cookies.get(cookie_name(request, base))


def set_cookie(request: Request, response: Response, base: str, value: str) -> None:
    """Set ``base`` with the flags above."""
    response.set_cookie(
        cookie_name(request, base),
        value,
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(request: Request, response: Response, base: str) -> None:
    """Tell the browser to forget ``base``."""
    response.delete_cookie(
        cookie_name(request, base),
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )
