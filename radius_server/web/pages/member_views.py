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
from radius_server.admin.sessions import SessionQuery
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
# Sessions read at most to count devices online when the decisions summary is absent.
_ONLINE_SCAN = 10_000


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
    """Last sign-in and devices online for a page of members (one query when it can).

    The decisions summary (``Admin.decisions``) gives both in one query; without
    it, devices online are counted from the open accounting sessions and the
    last sign-in is left blank.
    """
    ids = [record.id for record in records]
    if not ids:
        return {}
    decisions = getattr(admin, "decisions", None)
    if decisions is not None:
        found = decisions.activity(ids)
        return {
            i: Activity(found[i].last_sign_in_at, found[i].online_devices)
            if i in found
            else Activity(None, 0)
            for i in ids
        }
    online = admin.accounting.list(SessionQuery(online=True, limit=_ONLINE_SCAN))
    counts: dict[int, int] = dict.fromkeys(ids, 0)
    for session in online.sessions:
        if session.customer_id in counts:
            counts[session.customer_id] += 1
    return {i: Activity(None, counts[i]) for i in ids}


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
