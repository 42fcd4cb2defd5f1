"""What the members pages show about a member: status, validity, plan, activity, in words.

Shared by the members table (members.py) and a member's page (member.py);
no route here. Times are shown in the space's zone (``Settings.zone``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from radius_server.admin import Admin
from radius_server.config import ConfigError
from radius_server.rules.pins import PinError
from radius_server.rules.plans import PlanError
from radius_server.rules.validation import DEFAULT_WORD
from radius_server.rules.validity import show_end, show_start
from radius_server.store.errors import StoreError
from radius_server.store.journal import utcnow
from radius_server.store.records import CustomerRecord
from radius_server.web.pages.flash import flash
from radius_server.web.pages.staff_auth import StaffUser

MEMBERS_PATH = "/staff/members"
# Errors an operator's input can cause: shown as a message, never a crash. Their
# texts name no PIN (admin/__init__.py), so they may be shown and logged.
REFUSALS = (StoreError, PinError, ConfigError, PlanError)


@dataclass(frozen=True, slots=True)
class Activity:
    """Last sign-in (None: never, or not recorded) and devices online now."""

    last_sign_in: datetime | None
    online: int


def member_path(email: str) -> str:
    """The member's page (the email as it is stored; ``@`` is fine in a path)."""
    return f"{MEMBERS_PATH}/{email}"


def when(instant: datetime | None, zone: tzinfo) -> str:
    """An instant for people, to the minute in the space's zone; "" for None."""
    if instant is None:
        return ""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def status_of(record: CustomerRecord) -> str:
    """ "active" or "disabled"."""
    return "active" if record.active else "disabled"


def wifi_of(record: CustomerRecord, zone: tzinfo, now: datetime | None = None) -> str:
    """Wi-Fi in words: "no", "yes", "yes, from D", "yes, until D", "ended D", "from D"."""
    if not record.wifi_access:
        return "no"
    now = now or utcnow()
    start, end = show_start(record.valid_from, zone), show_end(record.valid_until, zone)
    if record.valid_until is not None and record.valid_until <= now:
        return f"ended {end}"
    if record.valid_from is not None and record.valid_from > now:
        return f"from {start}" + (f" until {end}" if end else "")
    if end:
        return f"yes, until {end}"
    return "yes"


def activity(admin: Admin, records: Sequence[CustomerRecord]) -> dict[int, Activity]:
    """Last sign-in and devices online for a page of members, in one query.

    From the decisions summary (``Admin.decisions.activity``): the last sign-in
    the servers recorded, and the member's open accounting sessions counted by
    device. A member it does not know (removed meanwhile) shows nothing.
    """
    found = admin.decisions.activity([record.id for record in records]) if records else {}
    return {
        r.id: Activity(found[r.id].last_sign_in_at, found[r.id].online_devices)
        if r.id in found
        else Activity(None, 0)
        for r in records
    }


def plan_label(record: CustomerRecord, names: dict[int, str], default: str | None) -> str:
    """The member's plan by name; the default plan says so."""
    if record.plan_id is not None and record.plan_id in names:
        return names[record.plan_id]
    if not default or default == DEFAULT_WORD:
        return DEFAULT_WORD
    return f"{default} (default)"


def sentence(exc: BaseException) -> str:
    """An admin-layer error as a sentence (its text names no PIN or secret)."""
    text = str(exc).strip() or "That was refused."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def done(
    request: Request, user: StaffUser, target: str, text: str, kind: str = "notice", **data: Any
) -> Response:
    """After a form post: leave ``text`` for the next page and go there (303, PRG)."""
    flash(request, str(user.session.id), text, kind, **data)
    return RedirectResponse(target, status_code=303)
