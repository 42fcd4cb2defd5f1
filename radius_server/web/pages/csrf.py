"""Cross-site request forgery protection for every form post.

Signed in, a form carries the session's own secret (synchronizer token, stored
with the session: OWASP CSRF Prevention Cheat Sheet). Before signing in (the
sign-in and password forms), there is no session: the token is a random value
in its own cookie that the form repeats (double submit; the ``__Host-`` prefix
over HTTPS keeps a sibling subdomain from planting it). Either way the field is
``csrf_token``, compared in constant time, and a post without it, or with a
wrong one, is refused with 403 before anything else happens.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

from radius_server.web.pages.cookies import read_cookie, set_cookie

FIELD = "csrf_token"
ANONYMOUS = "rs_csrf"


class CsrfRefused(Exception):
    """A form post without the right token: answered 403, nothing done."""


def anonymous_token(request: Request) -> tuple[str, str | None]:
    """The token for an anonymous form, and a new cookie value when there is none yet."""
    current = read_cookie(request, ANONYMOUS)
    if current and 20 <= len(current) <= 100:
        return current, None
    fresh = secrets.token_urlsafe(32)
    return fresh, fresh


def set_anonymous_cookie(request: Request, response: Response, value: str) -> None:
    """Give the browser its anonymous-form token."""
    set_cookie(request, response, ANONYMOUS, value)


def tokens_match(sent: object, expected: str | None) -> bool:
    """Whether the posted ``sent`` equals ``expected``, in constant time."""
    if not isinstance(sent, str) or not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), expected.encode())


async def posted_token(request: Request) -> object:
    """The ``csrf_token`` field of the posted form (the form is parsed once and cached)."""
    form = await request.form()
    return form.get(FIELD)


async def check_anonymous_form(request: Request) -> None:
    """Dependency of an anonymous form's POST: the field must repeat the cookie."""
    if not tokens_match(await posted_token(request), read_cookie(request, ANONYMOUS)):
        raise CsrfRefused()
