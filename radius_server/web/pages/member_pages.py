"""The members' page under ``/me/``: sign in by emailed link, see the PIN, join the Wi-Fi.

- ``/me/sign-in``: the member types their email; whatever it is, the answer is
  the same "check your email" page, and the lookup and the sending happen
  after the answer has gone (a background task), so neither the words nor the
  time tell whether the email is a member's. Requests are limited per email
  and per source (``LINKS_PER_EMAIL`` / ``LINKS_PER_SOURCE`` per
  ``LINK_WINDOW``), counted whether or not the email exists.
- ``/me/link?token=...``: the link from the email. A GET only shows a "Sign in"
  button (link scanners and preview fetchers in mail systems open links, and
  must not use them up); the POST (CSRF checked) uses the link once and sets
  the member cookie. A used, expired, unknown or malformed link gets the same
  410 page; past ``web_auth_failures`` of those per ``web_auth_window`` a
  source gets 429 before any look-up. The token is in the query string, which
  the access log never records (web/access_log.py), and Referrer-Policy
  no-referrer keeps it from leaving in a Referer.
- ``/me/``: the PIN (read-only), the network name, the method, the CA to
  trust with its fingerprint, downloads (Apple profile, CA certificate), a
  reminder email (``REMINDERS_PER_MEMBER`` per ``REMINDER_WINDOW``), sign-out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Form, Request
from starlette.responses import RedirectResponse, Response

from radius_server.admin import Admin
from radius_server.admin.portal import MEMBER_LINK_PATH
from radius_server.config import ConfigError
from radius_server.eap.apple_profile import CONTENT_TYPE, profile_filename
from radius_server.logging import get_logger
from radius_server.store.errors import StoreError
from radius_server.web.auth import FailureLimiter, source_of
from radius_server.web.pages.cookies import clear_cookie, read_cookie, set_cookie
from radius_server.web.pages.csrf import check_anonymous_form
from radius_server.web.pages.errors import error_page
from radius_server.web.pages.member_auth import (
    MEMBER_COOKIE,
    MEMBER_HOME,
    MEMBER_SIGN_IN,
    MemberSignInRequired,
    MemberUser,
    current_member,
    member_form,
    member_page,
)
from radius_server.web.pages.rendering import render

MEMBER_SIGN_OUT = "/me/sign-out"
MEMBER_REMINDER = "/me/reminder"
PROFILE_PATH = "/me/wifi.mobileconfig"
CA_PATHS = {"/me/wifi-ca.crt": "der", "/me/wifi-ca.pem": "pem"}
# Pages anyone may open (the rest take member_page or member_form).
PUBLIC_MEMBER_PAGES = frozenset({"/me", MEMBER_SIGN_IN, MEMBER_LINK_PATH})

# Sign-in links: per email, a member who lost one email can ask twice more; per
# source, a space's whole front room behind one NAT address still gets through
# on a busy morning, a script walking a list of addresses does not.
LINKS_PER_EMAIL = 3
LINKS_PER_SOURCE = 20
LINK_WINDOW = 15 * 60.0
REMINDERS_PER_MEMBER = 3
REMINDER_WINDOW = 60 * 60.0

_Email = Annotated[str, Form(max_length=1000)]
_Token = Annotated[str, Form(max_length=400)]

router = APIRouter(include_in_schema=False)
_log = get_logger("web")


class MemberLimits:
    """Link requests per email and per source, bad links per source, reminders (in memory)."""

    def __init__(self, failures: int, window: float) -> None:
        """``failures`` unusable links per ``window`` seconds per source (web_auth_*)."""
        self.by_email = FailureLimiter(LINKS_PER_EMAIL, LINK_WINDOW)
        self.by_source = FailureLimiter(LINKS_PER_SOURCE, LINK_WINDOW)
        self.bad_links = FailureLimiter(failures, window)
        self.reminders = FailureLimiter(REMINDERS_PER_MEMBER, REMINDER_WINDOW)

    def link_wait(self, source: str, email: str) -> float:
        """Seconds until this source may ask for this email's link again; 0 when now."""
        return max(self.by_source.retry_after(source), self.by_email.retry_after(email))

    def count_link(self, source: str, email: str) -> None:
        """Count one link request against both budgets."""
        self.by_source.fail(source)
        self.by_email.fail(email)


def _limits(request: Request) -> MemberLimits:
    return request.app.state.member_limits  # type: ignore[no-any-return]


def _checker(request: Request) -> Admin:
    return request.app.state.page_checker  # type: ignore[no-any-return]


def _email_key(email: str) -> str:
    return email.strip().lower()[:254]


def _looks_like_email(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and "." in domain and len(email) <= 254 and " " not in email)


@router.get("/me", include_in_schema=False)
def member_root() -> Response:
    """``/me`` is ``/me/``."""
    return RedirectResponse(MEMBER_HOME, status_code=308)


@router.get(MEMBER_SIGN_IN)
def sign_in_page(request: Request) -> Response:
    """The email form (signed in already: on to the member's page)."""
    if current_member(request) is not None:
        return RedirectResponse(MEMBER_HOME, status_code=303)
    notice = "You are signed out." if "signed_out" in request.query_params else ""
    return render(request, "member/sign_in.html", {"title": "Your Wi-Fi PIN", "notice": notice})


def _send_link(admin: Admin, email: str, source: str) -> None:
    """Look the email up and send its link, after the answer has gone (never raises)."""
    try:
        delivery = admin.portal.send_link(email)
    except Exception as exc:  # a background task has nobody to raise to; the type names no secret
        _log.warning(
            "member_link", outcome="error", email=email, source=source, error=type(exc).__name__
        )
        return
    outcome = "no_member" if delivery is None else "sent" if delivery.ok else "failed"
    _log.info("member_link", outcome=outcome, email=email, source=source)


@router.post(MEMBER_SIGN_IN, dependencies=[Depends(check_anonymous_form)])
def request_link(request: Request, background: BackgroundTasks, email: _Email = "") -> Response:
    """Answer "check your email" for every address; send the link in the background."""
    key, source = _email_key(email), source_of(request)
    context = {"title": "Your Wi-Fi PIN", "email": email}
    if not _looks_like_email(email.strip()):
        context["error"] = "Enter your email address, like name@example.com."
        return render(request, "member/sign_in.html", context, status_code=422)
    wait = _limits(request).link_wait(source, key)
    if wait > 0:
        _log.warning("member_link", outcome="limited", email=key, source=source)
        context["error"] = (
            "Too many sign-in links asked for. Wait a few minutes, then try again; "
            "a link already on its way still works for 15 minutes."
        )
        response = render(request, "member/sign_in.html", context, status_code=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    admin = _checker(request)
    try:
        admin.portal.check_sending()
    except ConfigError as exc:
        _log.error("member_link", outcome="not_configured", problem=str(exc))
        context["error"] = (
            "Sign-in by email is not set up here yet. Ask the front desk for your PIN."
        )
        return render(request, "member/sign_in.html", context, status_code=503)
    _limits(request).count_link(source, key)
    background.add_task(_send_link, admin, key, source)
    return render(request, "member/check_email.html", {"title": "Check your email", "email": key})


def _link_gone(request: Request) -> Response:
    """The one page for a used, expired or unknown link; counted against the source."""
    _limits(request).bad_links.fail(source_of(request))
    signed_in = current_member(request) is not None
    return render(
        request,
        "member/link_gone.html",
        {"title": "This link is not valid any more", "signed_in": signed_in},
        status_code=410,
    )


def _too_many_bad_links(request: Request) -> Response | None:
    """429 before any look-up when this source has tried too many unusable links."""
    wait = _limits(request).bad_links.retry_after(source_of(request))
    if wait <= 0:
        return None
    _log.warning("member_sign_in", outcome="limited", source=source_of(request))
    response = error_page(
        request,
        429,
        "Too many links that do not work",
        "This device has opened several sign-in links that are not valid. Wait a minute, "
        "then open the link from your latest email again.",
    )
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


@router.get(MEMBER_LINK_PATH)
def link_page(request: Request, token: str = "") -> Response:
    """The "Sign in" button for a usable link; the link is not used by opening it."""
    limited = _too_many_bad_links(request)
    if limited is not None:
        return limited
    if not _checker(request).portal.link_usable(token):
        return _link_gone(request)
    return render(request, "member/link.html", {"title": "Sign in", "token": token})


@router.post(MEMBER_LINK_PATH, dependencies=[Depends(check_anonymous_form)])
def use_link(request: Request, token: _Token = "") -> Response:
    """Use the link once: a member session and its cookie, or the "not valid" page."""
    limited = _too_many_bad_links(request)
    if limited is not None:
        return limited
    state = request.app.state
    lifetime = timedelta(seconds=state.settings.web_session_lifetime)
    done = _checker(request).portal.sign_in(token, lifetime)
    if done is None:
        _log.info("member_sign_in", outcome="refused", source=source_of(request))
        return _link_gone(request)
    old = read_cookie(request, MEMBER_COOKIE)
    if old:
        # A new id at every sign-in (no session fixation); the old one ends.
        _checker(request).web_sessions.close(old)
    _log.info("member_sign_in", outcome="ok", email=done.member.email, source=source_of(request))
    response = RedirectResponse(MEMBER_HOME, status_code=303)
    set_cookie(request, response, MEMBER_COOKIE, done.session_id)
    return response


_REMINDER_NOTICES = {
    "sent": ("We have emailed you a reminder with your PIN.", "notice"),
    "failed": ("The reminder could not be sent. Try again later or ask the front desk.", "error"),
    "limited": ("You asked for several reminders already. Try again in an hour.", "error"),
    "unavailable": ("Reminders by email are not set up here yet.", "error"),
}


@router.get(MEMBER_HOME)
def member_home(request: Request, member: Annotated[MemberUser, Depends(member_page)]) -> Response:
    """The member's PIN and how to join the Wi-Fi."""
    portal = member.admin.portal
    notice, kind = _REMINDER_NOTICES.get(request.query_params.get("reminder", ""), ("", ""))
    return render(
        request,
        "member/home.html",
        {
            "title": "Your Wi-Fi",
            "record": member.record,
            "ssid": portal.ssid(),
            "trust": portal.trust(),
            "notice": notice,
            "notice_kind": kind,
        },
        member=member,
    )


@router.get(PROFILE_PATH)
def apple_profile(
    request: Request, member: Annotated[MemberUser, Depends(member_page)]
) -> Response:
    """The member's Apple configuration profile (``.mobileconfig``, unsigned)."""
    portal = member.admin.portal
    body = portal.apple_profile(member.email)
    if body is None:
        return _not_set_up(request)
    name = profile_filename(portal.ssid())
    return Response(
        body,
        media_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _not_set_up(request: Request) -> Response:
    return error_page(
        request,
        404,
        "Secure Wi-Fi is not set up yet",
        "This server has no certificate for secure Wi-Fi (WPA-Enterprise) yet. "
        "Ask the front desk how to join.",
    )


def _ca_route(path: str, form: str) -> None:
    media = "application/x-x509-ca-cert" if form == "der" else "application/x-pem-file"

    @router.get(path, name=f"wifi_ca_{form}")
    def wifi_ca(request: Request, member: Annotated[MemberUser, Depends(member_page)]) -> Response:
        """The CA certificate the server's EAP certificate chains to."""
        trust = member.admin.portal.trust()
        if trust is None or trust.anchor is None:
            return _not_set_up(request)
        body = trust.anchor_der() if form == "der" else trust.anchor_pem()
        filename = path.rsplit("/", 1)[1]
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


for _path, _form in CA_PATHS.items():
    _ca_route(_path, _form)


def install(app: FastAPI) -> None:
    """Add the members' pages, their rate limits and their sign-in redirect to ``app``."""
    settings = app.state.settings
    app.state.member_limits = MemberLimits(settings.web_auth_failures, settings.web_auth_window)

    @app.exception_handler(MemberSignInRequired)
    async def _sign_in(_request: Request, _exc: MemberSignInRequired) -> Response:
        # 303: the browser follows with a GET, whatever the method was.
        return RedirectResponse(MEMBER_SIGN_IN, status_code=303)

    app.include_router(router)


@router.post(MEMBER_REMINDER)
def send_reminder(
    request: Request, member: Annotated[MemberUser, Depends(member_form)]
) -> Response:
    """Email the member their own PIN reminder (the admin layer's reminders, one recipient)."""
    limits = _limits(request)
    if limits.reminders.retry_after(member.email) > 0:
        outcome = "limited"
    else:
        limits.reminders.fail(member.email)
        reminders = member.admin.reminders
        try:
            plan = reminders.plan(reminders.smtp(dry_run=False).config, [member.email])
            results = reminders.send(plan, via="members-page")
            outcome = "sent" if results and all(d.ok for d in results) else "failed"
        except ConfigError:
            outcome = "unavailable"
        except StoreError:
            outcome = "failed"
    _log.info("member_reminder", outcome=outcome, email=member.email)
    return RedirectResponse(f"{MEMBER_HOME}?reminder={outcome}", status_code=303)


@router.post(MEMBER_SIGN_OUT)
def sign_out(request: Request, member: Annotated[MemberUser, Depends(member_form)]) -> Response:
    """End this browser's member session."""
    session_id = read_cookie(request, MEMBER_COOKIE)
    if session_id:
        _checker(request).web_sessions.close(session_id)
    member.admin.portal.signed_out(member.email)
    response = RedirectResponse(f"{MEMBER_SIGN_IN}?signed_out=1", status_code=303)
    clear_cookie(request, response, MEMBER_COOKIE)
    return response
