"""A member's page and its forms; adding and removing a member.

``GET /staff/members/{email}``: the PIN (operator and admin; readonly sees
"hidden"), status, Wi-Fi access and validity, plan, devices online (with
"Disconnect"), lockout (with "Clear"), and the member's audit history. Each form
posts to its own path under the member's, with the CSRF token; the admin layer
does the work; the answer is a 303 back to the page with what happened
(Post/Redirect/Get: a reload repeats nothing). Errors are shown the same way,
worded by the admin layer (a PIN conflict names the holder, never a PIN).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from radius_server.admin.customers import CustomerUpdate, NewCustomer
from radius_server.admin.disconnects import describe
from radius_server.admin.sessions import SessionQuery
from radius_server.rules.roles import Role
from radius_server.rules.validation import DEFAULT_WORD
from radius_server.rules.validity import show_end, show_start
from radius_server.store.errors import InvalidValue, NotFound, SessionNotFound
from radius_server.web.pages.flash import take
from radius_server.web.pages.member_views import (
    MEMBERS_PATH,
    REFUSALS,
    activity,
    done,
    member_path,
    plan_label,
    sentence,
    status_of,
    when,
    wifi_of,
)
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import StaffUser, staff_form, staff_page

NEW_PATH = f"{MEMBERS_PATH}/new"
MEMBER_PATH = MEMBERS_PATH + "/{email}"
# How long a disconnect waits for a server to say how it went (the page waits too).
DISCONNECT_WAIT = 3.0
HISTORY_LIMIT = 50
ONLINE_LIMIT = 50
_SENT_AWAY = "Devices signed in with the old one are sent away."

router = APIRouter(include_in_schema=False)
_Text = Annotated[str, Form(max_length=300)]
_Day = Annotated[str, Form(max_length=20)]


def _day(text: str, label: str) -> date | None:
    """A date field (YYYY-MM-DD, as ``<input type=date>`` sends it); "" is None."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"{label}: a date like 2026-12-31") from None


def _date_value(shown: str | None) -> str:
    """What a date input can hold: a whole day, else "" (an exact time is kept as it is)."""
    return shown if shown is not None and len(shown) == 10 else ""


# -- adding -------------------------------------------------------------------------


def _plan_names(user: StaffUser) -> list[str]:
    return [view.record.name for view in user.admin.plans.find()]


@router.get(NEW_PATH)
def new_member_page(
    request: Request, user: Annotated[StaffUser, Depends(staff_page(Role.OPERATOR))]
) -> Response:
    """The form to add a member."""
    return render(
        request,
        "staff/member_new.html",
        {"title": "Add a member", "form": {"wifi_access": True}, "plans": _plan_names(user)},
        user=user,
    )


@router.post(NEW_PATH)
def add_member(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    email: _Text = "",
    name: _Text = "",
    pin: Annotated[str, Form(max_length=20)] = "",
    wifi_access: Annotated[str, Form(max_length=5)] = "",
    valid_from: _Day = "",
    valid_until: _Day = "",
    plan: _Text = "",
) -> Response:
    """Add the member (a random PIN unless one is typed); their page next."""
    try:
        result = user.admin.customers.add(
            NewCustomer(
                email=email,
                name=name.strip(),
                pin=pin.strip() or None,
                wifi_access=bool(wifi_access),
                valid_from=_day(valid_from, "valid from"),
                valid_until=_day(valid_until, "valid until"),
                plan=plan or None,
            )
        )
    except REFUSALS as exc:
        # The form again with what was typed, but never the PIN (no PIN on an error page).
        form = {
            "email": email,
            "name": name,
            "wifi_access": bool(wifi_access),
            "valid_from": valid_from,
            "valid_until": valid_until,
            "plan": plan,
        }
        return render(
            request,
            "staff/member_new.html",
            {
                "title": "Add a member",
                "form": form,
                "plans": _plan_names(user),
                "error": sentence(exc),
            },
            status_code=422,
            user=user,
        )
    record = result.record
    text = " ".join([f"Added {record.email}.", *result.warnings])
    return done(request, user, member_path(record.email), text)


# -- the member's page ----------------------------------------------------------------


@router.get(MEMBER_PATH)
def member_page(
    request: Request,
    email: str,
    user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))],
) -> Response:
    """Everything about one member (NotFound: the 404 page)."""
    admin = user.admin
    record = admin.customers.get(email)
    zone = admin.settings.zone()
    seen = activity(admin, [record])[record.id]
    online = admin.accounting.list(
        SessionQuery(online=True, member_email=record.email, limit=ONLINE_LIMIT)
    )
    report = admin.guessing.lockouts()
    locks = [lock for lock in report.locks if lock.scope == "user" and lock.key == record.email]
    failures = next((f for f in report.users_with_failures if f.user == record.email), None)
    valid_from = show_start(record.valid_from, zone)
    valid_until = show_end(record.valid_until, zone)
    plans = admin.plans.find()
    return render(
        request,
        "staff/member.html",
        {
            "title": record.full_name or record.email,
            "member": record,
            "pin": record.pin if user.sees_pins else None,
            "status": status_of(record),
            "wifi": wifi_of(record, zone),
            "valid_from": valid_from or "",
            "valid_until": valid_until or "",
            "valid_from_value": _date_value(valid_from),
            "valid_until_value": _date_value(valid_until),
            "plan": plan_label(
                record, {v.record.id: v.record.name for v in plans}, admin.plans.default_name()
            ),
            "plans": [v.record for v in plans],
            "default_word": DEFAULT_WORD,
            "last_sign_in": when(seen.last_sign_in, zone),
            "online": online.sessions,
            "online_more": online.more,
            "when": lambda instant: when(instant, zone),
            "locks": [when_epoch(lock.until, zone) for lock in locks],
            "failures": failures,
            "history": admin.customers.history(HISTORY_LIMIT, record.email),
            "can_change": user.role.allows(Role.OPERATOR),
            "flash": take(request, str(user.session.id)),
            "changed_at": when(record.pin_changed_at, zone),
        },
        user=user,
    )


def when_epoch(seconds: float, zone: tzinfo) -> str:
    """Seconds since the epoch for people (a lock's end)."""
    return when(datetime.fromtimestamp(seconds, UTC), zone)


def _back(
    request: Request, user: StaffUser, email: str, text: str, kind: str = "notice"
) -> Response:
    return done(request, user, member_path(email), text, kind)


def _refused(request: Request, user: StaffUser, email: str, lead: str, exc: Exception) -> Response:
    """An error from the admin layer, shown on the member's page (an unknown one: the table)."""
    gone = isinstance(exc, NotFound) and not isinstance(exc, SessionNotFound)
    target = MEMBERS_PATH if gone else member_path(email)
    return done(request, user, target, f"{lead} {sentence(exc)}".strip(), "error")


@router.post(MEMBER_PATH + "/pin")
def set_pin(
    request: Request,
    email: str,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    pin: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Give the member the PIN typed (5 digits, nobody else's)."""
    try:
        result = user.admin.customers.set_pin(email, pin.strip())
    except REFUSALS as exc:
        return _refused(request, user, email, "The PIN was not changed.", exc)
    if not result.changed:
        return _back(request, user, email, "That is already the member's PIN; nothing changed.")
    text = " ".join([f"PIN changed. {_SENT_AWAY}", *result.warnings])
    return _back(request, user, result.record.email, text)


@router.post(MEMBER_PATH + "/pin/regenerate")
def regenerate_pin(
    request: Request, email: str, user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))]
) -> Response:
    """Give the member a new random PIN."""
    try:
        result = user.admin.customers.regenerate_pin(email)
    except REFUSALS as exc:
        return _refused(request, user, email, "No new PIN.", exc)
    text = " ".join([f"New PIN drawn. {_SENT_AWAY}", *result.warnings])
    return _back(request, user, result.record.email, text)


@router.post(MEMBER_PATH + "/status")
def set_status(
    request: Request,
    email: str,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Enable (``active=1``) or disable (``active=0``) the member."""
    if active not in ("0", "1"):
        return _back(request, user, email, "Choose enable or disable.", "error")
    try:
        result = user.admin.customers.update(email, CustomerUpdate(active=active == "1"))
    except REFUSALS as exc:
        return _refused(request, user, email, "", exc)
    text = "Enabled." if result.record.active else "Disabled: their PIN no longer signs in."
    return _back(request, user, result.record.email, " ".join([text, *result.warnings]))


@router.post(MEMBER_PATH + "/access")
def set_access(
    request: Request,
    email: str,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    wifi_access: Annotated[str, Form(max_length=5)] = "",
    valid_from: _Day = "",
    valid_until: _Day = "",
    valid_from_was: _Day = "",
    valid_until_was: _Day = "",
    plan: _Text = "",
) -> Response:
    """Wi-Fi access, validity dates and plan in one change (all of it, or none)."""
    try:
        start, end = _day(valid_from, "valid from"), _day(valid_until, "valid until")
        # A date left as shown is left alone (an exact time shows as no date: kept).
        keep_start, keep_end = valid_from == valid_from_was, valid_until == valid_until_was
        update = CustomerUpdate(
            wifi_access=bool(wifi_access),
            valid_from=None if keep_start else start,
            valid_until=None if keep_end else end,
            clear_valid_from=not keep_start and start is None,
            clear_valid_until=not keep_end and end is None,
            plan=plan or None,
        )
        result = user.admin.customers.update(email, update)
    except REFUSALS as exc:
        return _refused(request, user, email, "Nothing changed.", exc)
    return _back(request, user, result.record.email, " ".join(["Access saved.", *result.warnings]))


@router.post(MEMBER_PATH + "/disconnect")
def disconnect(
    request: Request,
    email: str,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    session: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Disconnect one of the member's sessions (``session``: its id), or all of them."""
    admin = user.admin
    try:
        record = admin.customers.get(email)
        target = record.email
        if session:
            if not session.isdigit() or admin.accounting.get(int(session)).customer_id != record.id:
                raise InvalidValue("that session is not one of this member's")
            target = session
        result = admin.disconnects.disconnect(target, DISCONNECT_WAIT)
    except REFUSALS as exc:
        return _refused(request, user, email, "Not disconnected.", exc)
    text = describe(result, DISCONNECT_WAIT)
    return _back(request, user, record.email, text[0].upper() + text[1:] + ".")


@router.post(MEMBER_PATH + "/lockout/clear")
def clear_lockout(
    request: Request, email: str, user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))]
) -> Response:
    """Lift the member's lockout (the PIN is unchanged); servers follow within a second."""
    try:
        record = user.admin.customers.get(email)
        user.admin.guessing.clear(record.email)
    except REFUSALS as exc:
        return _refused(request, user, email, "", exc)
    return _back(request, user, record.email, "Lockout cleared: they may try again now.")


# -- removing ---------------------------------------------------------------------------


@router.get(MEMBER_PATH + "/remove")
def remove_page(
    request: Request, email: str, user: Annotated[StaffUser, Depends(staff_page(Role.OPERATOR))]
) -> Response:
    """Are you sure? (NotFound: the 404 page.)"""
    record = user.admin.customers.get(email)
    return render(
        request,
        "staff/member_remove.html",
        {"title": f"Remove {record.email}?", "member": record},
        user=user,
    )


@router.post(MEMBER_PATH + "/remove")
def remove(
    request: Request, email: str, user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))]
) -> Response:
    """Remove the member; their PIN stops working on every server."""
    try:
        record = user.admin.customers.remove(email)
    except REFUSALS as exc:
        return _refused(request, user, email, "Not removed.", exc)
    return done(request, user, MEMBERS_PATH, f"Removed {record.email}.")
