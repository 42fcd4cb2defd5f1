"""HTML for errors on the pages; the API keeps its problem+json (web/problems.py).

Every handler ``problems.install`` registered is wrapped: for a path outside
``/api/`` the same status, title and detail (already free of PINs and secrets)
are rendered into ``error.html``. The pages' own refusals are added here: no
session (a redirect to the sign-in page), a role too small (403), a form
without its CSRF token (403).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from radius_server.web.pages.csrf import CsrfRefused
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import PageForbidden, SignInRequired, sign_in_url

Handler = Callable[[Request, Any], Awaitable[Response] | Response]
# Headers of a problem worth keeping on its page.
_KEPT_HEADERS = ("retry-after", "allow")


def is_page(path: str) -> bool:
    """Whether ``path`` is a page (HTML errors) rather than the API or a health check."""
    return not path.startswith("/api/") and path != "/healthz"


def _home_of(path: str) -> str:
    # A member who hits an error goes back to the members' page, not the staff's.
    return "/me/" if path == "/me" or path.startswith("/me/") else "/staff/"


def error_page(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """The error page: status, a title and one sentence."""
    response = render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail, "home": _home_of(request.url.path)},
        status_code=status,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _for_pages(handler: Handler) -> Handler:
    async def wrapped(request: Request, exc: Any) -> Response:
        result = handler(request, exc)
        response = await result if isinstance(result, Awaitable) else result
        if not is_page(request.url.path) or not response.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            return response
        body = json.loads(bytes(response.body))
        kept = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        return error_page(
            request,
            response.status_code,
            str(body.get("title", "Error")),
            str(body.get("detail", "")),
            kept,
        )

    return wrapped


def install(app: FastAPI) -> None:
    """Answer errors on pages in HTML; call after ``problems.install``."""
    for exc_class, handler in list(app.exception_handlers.items()):
        app.exception_handlers[exc_class] = _for_pages(handler)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        # 303: the browser follows with a GET, whatever the method was.
        return RedirectResponse(sign_in_url(exc.next_path), status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return error_page(request, 403, "Your role may not open this page", exc.detail)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return error_page(
            request,
            403,
            "The form has expired",
            "This form was not sent from a page of ours, or it is too old. "
            "Go back, reload the page and send it again.",
        )
