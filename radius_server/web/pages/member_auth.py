"""Who is looking at a members' page: the member cookie, the session, the member.

A member session is a ``web_sessions`` row of kind ``member`` in its own cookie
(``rs_member``, same flags as the staff cookie: cookies.py), so one browser may
be signed in as staff and as a member at once and neither opens the other's
pages: the staff dependencies accept only kind ``staff`` from ``rs_session``,
these only kind ``member`` from ``rs_member``.

Every signed-in members' page takes exactly one of ``member_page`` (GET) or
``member_form`` (POST, CSRF checked against the session's secret); both carry
``.member = True`` so tests can enumerate them.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from radius_server.admin import Admin
from radius_server.store.records import CustomerRecord
from radius_server.store.web_sessions import MEMBER, SessionRecord
from radius_server.web.pages.cookies import read_cookie
from radius_server.web.pages.csrf import CsrfRefused, posted_token, tokens_match

MEMBER_COOKIE = "rs_member"
MEMBER_HOME = "/me/"
MEMBER_SIGN_IN = "/me/sign-in"


class MemberSignInRequired(Exception):
    """No live member session: answered with a redirect to the members' sign-in page."""


@dataclass(frozen=True, slots=True)
class MemberUser:
    """A signed-in member: the customer record, the session, the admin layer acting as them."""

    record: CustomerRecord
    session: SessionRecord
    admin: Admin

    @property
    def email(self) -> str:
        """The member's email."""
        return self.record.email

    @property
    def csrf_token(self) -> str:
        """What this session's forms carry in ``csrf_token``."""
        return self.session.csrf_secret


def member_actor(email: str) -> str:
    """How a member appears in the audit trail."""
    return f"member:{email}"


def current_member(request: Request) -> MemberUser | None:
    """The signed-in member of this request, or None (no cookie, ended, disabled, removed)."""
    session_id = read_cookie(request, MEMBER_COOKIE)
    if not session_id:
        return None
    checker: Admin = request.app.state.page_checker
    session = checker.web_sessions.find(session_id)
    if session is None or session.kind != MEMBER:
        return None
    record = checker.portal.member(session)
    if record is None:
        checker.web_sessions.close(session_id)
        return None
    state = request.app.state
    actor = member_actor(record.email)
    request.state.actor = actor
    return MemberUser(record, session, Admin(state.settings, state.sessions, actor))


def _admit(request: Request) -> MemberUser:
    member = current_member(request)
    if member is None:
        raise MemberSignInRequired()
    return member


def member_page(request: Request) -> MemberUser:
    """Dependency of a signed-in members' page (GET): else a redirect to sign in."""
    return _admit(request)


async def member_form(request: Request) -> MemberUser:
    """Dependency of a members' form POST: signed in, and the CSRF token checked."""
    member = await run_in_threadpool(_admit, request)
    if not tokens_match(await posted_token(request), member.csrf_token):
        raise CsrfRefused()
    return member


member_page.member = True  # type: ignore[attr-defined]
member_form.member = True  # type: ignore[attr-defined]
member_form.checks_csrf = True  # type: ignore[attr-defined]
