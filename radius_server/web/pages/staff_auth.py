"""Who is looking at a staff page: the session cookie, the account, the role.

Every staff page takes exactly one of two dependencies, like the API's
``require``: ``Depends(staff_page(Role.X))`` for a GET, ``Depends(staff_form(Role.X))``
for a POST (which also checks the CSRF token). Both carry ``.role`` so a test
can enumerate every page and prove it refuses anonymous browsers (a redirect to
the sign-in page) and smaller roles (a 403 page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from radius_server.admin import Admin
from radius_server.rules.roles import Role
from radius_server.store.staff import StaffRecord
from radius_server.store.web_sessions import STAFF, SessionRecord
from radius_server.web.pages.cookies import SESSION, read_cookie
from radius_server.web.pages.csrf import CsrfRefused, posted_token, tokens_match

SIGN_IN_PATH = "/staff/sign-in"
HOME_PATH = "/staff/"


class SignInRequired(Exception):
    """No live staff session: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """Signed in, but the role is too small: answered with a 403 page."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A signed-in staff member: account, session, and the admin layer acting as them."""

    staff: StaffRecord
    session: SessionRecord
    admin: Admin

    @property
    def role(self) -> Role:
        """The account's role."""
        return self.staff.role

    @property
    def email(self) -> str:
        """The account's email."""
        return self.staff.email

    @property
    def csrf_token(self) -> str:
        """What this session's forms carry in ``csrf_token``."""
        return self.session.csrf_secret

    @property
    def sees_pins(self) -> bool:
        """Whether pages may show PINs (operator and admin), as in the API."""
        return self.staff.role.sees_secrets()

    @property
    def sees_secrets(self) -> bool:
        """Whether pages may show NAS secrets (admin only)."""
        return self.staff.role >= Role.ADMIN


def actor_for(staff: StaffRecord) -> str:
    """How a staff member appears in the audit trail."""
    return f"staff:{staff.email}"


def sign_in_url(next_path: str) -> str:
    """The sign-in page, coming back to ``next_path`` afterwards."""
    if next_path == HOME_PATH:
        return SIGN_IN_PATH
    return f"{SIGN_IN_PATH}?{urlencode({'next': next_path})}"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of ours (never another site), else home."""
    if not value or not value.startswith("/staff/") or "\\" in value or "//" in value:
        return HOME_PATH
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or len(value) > 500:
        return HOME_PATH
    return value


def current_staff(request: Request) -> StaffUser | None:
    """The signed-in staff member of this request, or None (no cookie, ended, disabled)."""
    session_id = read_cookie(request, SESSION)
    if not session_id:
        return None
    checker: Admin = request.app.state.page_checker
    session = checker.web_sessions.find(session_id)
    if session is None or session.kind != STAFF:
        return None
    staff = checker.staff.get_by_id(session.subject_id)
    if staff is None or staff.disabled_at is not None:
        checker.web_sessions.close(session_id)
        return None
    state = request.app.state
    user = StaffUser(staff, session, Admin(state.settings, state.sessions, actor_for(staff)))
    request.state.actor = actor_for(staff)
    return user


def _admit(request: Request, role: Role) -> StaffUser:
    user = current_staff(request)
    if user is None:
        # Back to the same page (and search) after signing in; a POST's form is lost anyway.
        query = request.url.query
        path = request.url.path + (f"?{query}" if query else "")
        raise SignInRequired(path if request.method == "GET" else HOME_PATH)
    if not user.role.allows(role):
        raise PageForbidden(
            f"This page needs the {role.label} role; your account is {user.role.label}."
        )
    return user


def staff_page(role: Role) -> Callable[[Request], StaffUser]:
    """Dependency of a staff page (GET): ``role`` or larger, else redirect or 403."""

    def dependency(request: Request) -> StaffUser:
        return _admit(request, role)

    dependency.role = role  # type: ignore[attr-defined]
    return dependency


def staff_form(role: Role) -> Callable[[Request], Awaitable[StaffUser]]:
    """Dependency of a staff form's POST: as :func:`staff_page`, and the CSRF token checked."""

    async def dependency(request: Request) -> StaffUser:
        user = await run_in_threadpool(_admit, request, role)
        if not tokens_match(await posted_token(request), user.csrf_token):
            raise CsrfRefused()
        return user

    dependency.role = role  # type: ignore[attr-defined]
    dependency.checks_csrf = True  # type: ignore[attr-defined]
    return dependency
