"""The web pages: staff pages under ``/staff/`` (and, later, the members' pages).

``install(app)`` adds them to the application of ``web/app.py``: the routers,
``/static``, HTML error pages, security headers, the sign-in rate limits and the
``Admin`` that checks sessions. See docs/architecture.md, "Web pages".
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from radius_server.admin import Admin
from radius_server.web.pages import errors, home, sign_in
from radius_server.web.pages.headers import PageHeaders
from radius_server.web.pages.rendering import STATIC_DIR

# Looks up sessions and checks passwords; its own writes are audited as "web".
_CHECKER_ACTOR = "web"
# Pages anyone may open (the sign-in and one-time link pages); every other page
# takes staff_page or staff_form (tests/integration/test_pages_security.py).
PUBLIC_PAGES = frozenset(
    {
        sign_in.SIGN_IN_PATH,
        sign_in.SET_PASSWORD_PATH,
        "/staff",
    }
)

pages_router = APIRouter(include_in_schema=False)
pages_router.include_router(sign_in.router)
pages_router.include_router(home.router)


def install(app: FastAPI) -> None:
    """Add the pages to ``app`` (after ``problems.install``: errors.py wraps its handlers)."""
    state = app.state
    state.page_checker = Admin(state.settings, state.sessions, _CHECKER_ACTOR)
    state.sign_in_limits = sign_in.SignInLimits(
        state.settings.web_auth_failures, state.settings.web_auth_window
    )
    errors.install(app)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(PageHeaders)
