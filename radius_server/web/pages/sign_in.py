"""Staff sign-in, sign-out and the one-time password link.

Sign-in answers an unknown email, a disabled account, an account without a
password and a wrong password the same way and in about the same time (one
Argon2 verification each: admin/staff.py). Failures are counted per source
address and per email (``FailureLimiter``, ``web_auth_failures`` per
``web_auth_window``); over either budget the form is answered 429 without
verifying anything, until the window has passed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from radius_server.logging import get_logger
from radius_server.rules.passwords import MIN_PASSWORD
from radius_server.rules.roles import Role
from radius_server.store.errors import InvalidValue
from radius_server.store.staff import LinkNotValid
from radius_server.web.auth import FailureLimiter, source_of
from radius_server.web.pages.cookies import SESSION, clear_cookie, read_cookie, set_cookie
from radius_server.web.pages.csrf import check_anonymous_form
from radius_server.web.pages.errors import error_page
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import (
    HOME_PATH,
    SIGN_IN_PATH,
    StaffUser,
    current_staff,
    safe_next,
    staff_form,
)

SIGN_OUT_PATH = "/staff/sign-out"
SET_PASSWORD_PATH = "/staff/set-password"  # noqa: S105 (a path)
REFUSED = "The email or the password is not right."
# Form fields are capped (a long one is refused before any work is done).
_Email = Annotated[str, Form(max_length=1000)]
_Password = Annotated[str, Form(max_length=4000)]

router = APIRouter(include_in_schema=False)
_log = get_logger("web")


class SignInLimits:
    """Failed sign-ins per source and per email (each a FailureLimiter)."""

    def __init__(self, budget: int, window: float) -> None:
        self.by_source = FailureLimiter(budget, window)
        self.by_email = FailureLimiter(budget, window)

    def retry_after(self, source: str, email: str) -> float:
        """Seconds until this source may try this email again; 0 when now."""
        return max(self.by_source.retry_after(source), self.by_email.retry_after(email))

    def fail(self, source: str, email: str) -> None:
        """Count one failed sign-in against both."""
        self.by_source.fail(source)
        self.by_email.fail(email)


def _email_key(email: str) -> str:
    return email.strip().lower()[:254]


@router.get(SIGN_IN_PATH)
def sign_in_page(request: Request, next: str = "") -> Response:
    """The sign-in form (signed in already: on to where the browser was going)."""
    if current_staff(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = ""
    if "signed_out" in request.query_params:
        notice = "You are signed out."
    elif "password_set" in request.query_params:
        notice = "Your password is set. Sign in with it."
    return render(request, "staff/sign_in.html", {"next": safe_next(next), "notice": notice})


@router.post(SIGN_IN_PATH, dependencies=[Depends(check_anonymous_form)])
def sign_in(
    request: Request,
    email: _Email = "",
    password: _Password = "",
    next: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Check the email and password; a new session and its cookie, or the form again."""
    state = request.app.state
    limits: SignInLimits = state.sign_in_limits
    source, key = source_of(request), _email_key(email)
    target = safe_next(next)
    wait = limits.retry_after(source, key)
    if wait > 0:
        _log.warning("staff_sign_in", outcome="limited", email=key, source=source)
        response = render(
            request,
            "staff/sign_in.html",
            {
                "next": target,
                "email": email,
                "error": f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.",
            },
            status_code=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    lifetime = timedelta(seconds=state.settings.web_session_lifetime)
    done = state.page_checker.staff.sign_in(key, password, lifetime)
    if done is None:
        limits.fail(source, key)
        _log.info("staff_sign_in", outcome="refused", email=key, source=source)
        return render(
            request,
            "staff/sign_in.html",
            {"next": target, "email": email, "error": REFUSED},
            status_code=401,
        )
    old = read_cookie(request, SESSION)
    if old:
        # A new id at every sign-in (no session fixation); the old one ends.
        state.page_checker.web_sessions.close(old)
    # Housekeeping where it is cheap and rare enough: ended sessions and old links go.
    state.page_checker.web_sessions.purge()
    _log.info("staff_sign_in", outcome="ok", email=done.staff.email, source=source)
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION, done.session_id)
    return response


@router.post(SIGN_OUT_PATH)
def sign_out(
    request: Request, user: Annotated[StaffUser, Depends(staff_form(Role.READONLY))]
) -> Response:
    """End this browser's session (the row is deleted: the cookie is dead everywhere)."""
    session_id = read_cookie(request, SESSION)
    if session_id:
        request.app.state.page_checker.web_sessions.close(session_id)
    user.admin.staff.signed_out(user.email)
    response = RedirectResponse(f"{SIGN_IN_PATH}?signed_out=1", status_code=303)
    clear_cookie(request, response, SESSION)
    return response


def _link_gone(request: Request) -> Response:
    return error_page(
        request,
        410,
        "This link is not valid any more",
        "A password link works once, for 24 hours. Ask an admin for a new one "
        "(radius-server staff link EMAIL).",
    )


@router.get(SET_PASSWORD_PATH)
def set_password_page(request: Request, token: str = "") -> Response:
    """The form to choose a password; the link is checked, not used, until it is posted."""
    email = request.app.state.page_checker.staff.link_email(token)
    if email is None:
        return _link_gone(request)
    return render(
        request,
        "staff/set_password.html",
        {"token": token, "email": email, "min_length": MIN_PASSWORD},
    )


@router.post(SET_PASSWORD_PATH, dependencies=[Depends(check_anonymous_form)])
def set_password(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    password: _Password = "",
    confirm: _Password = "",
) -> Response:
    """Use the link once and set the password; refused passwords leave the link usable."""
    staff = request.app.state.page_checker.staff
    email = staff.link_email(token)
    if email is None:
        return _link_gone(request)
    error = "The two passwords are not the same." if password != confirm else ""
    if not error:
        try:
            staff.set_password_by_link(token, password)
        except LinkNotValid:
            return _link_gone(request)
        except InvalidValue as exc:
            error = f"{str(exc)[0].upper()}{str(exc)[1:]}."
    if error:
        return render(
            request,
            "staff/set_password.html",
            {"token": token, "email": email, "min_length": MIN_PASSWORD, "error": error},
            status_code=422,
        )
    _log.info("staff_password_set", email=email, via="link")
    return RedirectResponse(f"{SIGN_IN_PATH}?password_set=1", status_code=303)


@router.get("/staff", include_in_schema=False)
def staff_root() -> Response:
    """``/staff`` is ``/staff/``."""
    return RedirectResponse(HOME_PATH, status_code=308)
