"""The web pages: staff pages under ``/staff/``, the members' page under ``/me/``.

``install(app)`` adds them to the application of ``web/app.py``: the routers,
``/static``, HTML error pages, security headers, the sign-in rate limits and the
``Admin`` that checks sessions. See docs/architecture.md, "Web pages".
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from radius_server.admin import Admin
from radius_server.web.pages import (
    access_points,
    decisions,
    errors,
    home,
    member,
    member_pages,
    members,
    sign_in,
    template_editor,
)
from radius_server.web.pages.flash import FlashBox
from radius_server.web.pages.headers import PageHeaders
from radius_server.web.pages.rendering import STATIC_DIR

# Looks up sessions and checks passwords; its own writes are audited as "web".
_CHECKER_ACTOR = "web"
# The members' pages (/me/...): public ones and those taking member_page/member_form
# (web/pages/member_auth.py; tests/integration/test_member_pages.py enumerates them).
MEMBER_PREFIX = "/me"
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
pages_router.include_router(access_points.router)
pages_router.include_router(template_editor.router)
pages_router.include_router(decisions.router)
# The table's fixed paths (/staff/members/bulk...) before /staff/members/{email}.
pages_router.include_router(members.router)
pages_router.include_router(member.router)


def install(app: FastAPI) -> None:
    """Add the pages to ``app`` (after ``problems.install``: errors.py wraps its handlers)."""
    state = app.state
    state.page_checker = Admin(state.settings, state.sessions, _CHECKER_ACTOR)
    state.sign_in_limits = sign_in.SignInLimits(
        state.settings.web_auth_failures, state.settings.web_auth_window
    )
    state.flash_box = FlashBox()
    errors.install(app)
    app.include_router(pages_router)
    member_pages.install(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(PageHeaders)
