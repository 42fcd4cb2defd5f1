"""``/staff/decisions``: recent sign-ins, so the front desk answers "why can't I get on?".

Every role reads it (the API's ``/decisions`` is readonly too: no PIN is ever
recorded). Newest first, filtered by member, access point and outcome, a page at a
time (``before``: the id the previous page ended at, from ``Admin.decisions``).
Each reason comes with a sentence to read to the member (reasons.py); a
lockout's says when it clears, from guessing protection's current locks. The
page refreshes itself only when asked (``refresh=1``: a ``<meta http-equiv=refresh>``,
no script needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from radius_server.rules.roles import Role
from radius_server.web.pages.nav import SECTIONS, Section
from radius_server.web.pages.reasons import explain
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import StaffUser, staff_page

PATH = "/staff/decisions"
PAGE_SIZE = 50
# Seconds between refreshes when the page is asked to refresh itself.
REFRESH_SECONDS = 10
router = APIRouter(include_in_schema=False)
SECTIONS.append(
    Section(
        PATH,
        "Live decisions",
        Role.READONLY,
        "Recent sign-ins and why each was refused: why can't a member get on?",
    )
)

# Guessing protection's lock scopes that name a member (key "user" or "user device").
_MEMBER_LOCKS = ("user", "device")


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One line of the table, ready to show."""

    at: str
    at_iso: str
    user: str
    known: bool  # a member's email (their page exists), not just what a device sent
    client: str
    method: str
    outcome: str
    reason: str
    explanation: str


def _when(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _lock_ends(user: StaffUser, zone: tzinfo) -> dict[str, str]:
    """Member -> when their lock (any device) clears, for the locks in force now."""
    ends: dict[str, float] = {}
    for lock in user.admin.guessing.lockouts().locks:
        if lock.scope not in _MEMBER_LOCKS:
            continue
        member = lock.key.split(" ", 1)[0]
        ends[member] = max(ends.get(member, 0.0), lock.until)
    return {m: _when(datetime.fromtimestamp(t, UTC), zone) for m, t in ends.items()}


def _rows(user: StaffUser, decisions: Any, zone: tzinfo) -> list[DecisionRow]:
    locks = _lock_ends(user, zone) if any(d.reason == "locked_out" for d in decisions) else {}
    return [
        DecisionRow(
            at=_when(d.at, zone),
            at_iso=d.at.isoformat(),
            user=d.user,
            known=d.customer_id is not None,
            client=d.client,
            method=d.method or "",
            outcome=d.outcome,
            reason=d.reason,
            explanation=explain(d.reason, locks.get(d.user)),
        )
        for d in decisions
    ]


def _link(**params: str | int | None) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{PATH}?{urlencode(kept)}" if kept else PATH


@router.get(PATH)
def decisions(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))],
    member: Annotated[str, Query(max_length=254)] = "",
    access_point: Annotated[str, Query(max_length=100)] = "",
    outcome: Annotated[Literal["", "accept", "reject"], Query()] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
    refresh: Annotated[bool, Query()] = False,
) -> Response:
    """Recent decisions, newest first, filtered and paginated."""
    settings = request.app.state.settings
    zone = settings.zone()
    member, access_point = member.strip(), access_point.strip()
    page = user.admin.decisions.recent(
        user=member or None,
        client=access_point or None,
        outcome=outcome or None,
        limit=PAGE_SIZE,
        before_id=before,
    )
    filters = {"member": member, "access_point": access_point, "outcome": outcome}
    live = refresh and before is None  # an older page does not change: nothing to refresh
    context = {
        "title": "Live decisions",
        "rows": _rows(user, page.decisions, zone),
        "member": member,
        "access_point": access_point,
        "outcome": outcome,
        "access_points": sorted(c.name for c in user.admin.clients.find()),
        "zone": settings.timezone,
        "older": _link(**filters, before=page.next_before) if page.next_before else "",
        "newest": _link(**filters) if before is not None else "",
        "refresh": live,
        "refresh_seconds": REFRESH_SECONDS,
        "refresh_on": _link(**filters, refresh="1"),
        "refresh_off": _link(**filters),
    }
    return render(request, "staff/decisions.html", context, user=user)
