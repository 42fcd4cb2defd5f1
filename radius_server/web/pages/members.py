"""The members table: search, pages, and bulk actions on the members ticked.

``GET /staff/members`` lists members in email order, one page at a time
(keyset: ``after`` the last email of the page before, ``CustomerAdmin.find``).
The table is one form: tick members, then "Send PIN reminder" (a confirmation
that names how many, "Yes, do it", then per-member results), "Disable" or
"Enable". Plain form posts with the CSRF token; no script needed. See
docs/architecture.md, "Web pages: members".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from radius_server.admin.customers import CustomerUpdate
from radius_server.logging import get_logger
from radius_server.rules.roles import Role
from radius_server.web.pages.flash import take
from radius_server.web.pages.member_views import (
    MEMBERS_PATH,
    REFUSALS,
    activity,
    done,
    plan_label,
    sentence,
    status_of,
    when,
    wifi_of,
)
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import StaffUser, staff_form, staff_page

BULK_PATH = f"{MEMBERS_PATH}/bulk"
REMIND_PATH = f"{MEMBERS_PATH}/remind"
REMINDED_PATH = f"{MEMBERS_PATH}/reminders"
PAGE_SIZE = 50
# Members one bulk action takes at most (a page and a half of ticks, with room).
MAX_TICKED = 500
# How reminders sent from these pages are audited (store/templates.record_reminder).
VIA = "web"
STATUSES = ("all", "active", "disabled")
_TICK = f"Tick at least one member first (at most {MAX_TICKED} at once)."

router = APIRouter(include_in_schema=False)
_log = get_logger("web")
_Emails = Annotated[list[str], Form()]


def _ticked(emails: list[str]) -> list[str]:
    """The ticked emails, cleaned, each once, in the order given."""
    seen: dict[str, None] = {}
    for email in emails:
        text = email.strip().lower()[:254]
        if text:
            seen.setdefault(text, None)
    return list(seen)


@router.get(MEMBERS_PATH)
def members(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))],
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "all",
    after: Annotated[str, Query(max_length=254)] = "",
) -> Response:
    """One page of members matching the search, with their activity."""
    admin = user.admin
    # Control characters match no email or name (and PostgreSQL refuses a NUL in text).
    search = "".join(c for c in q if c.isprintable()).strip()
    status = status if status in STATUSES else "all"
    active = {"active": True, "disabled": False}.get(status)
    found = admin.customers.find(
        active=active,
        search=search or None,
        after="".join(c for c in after if c.isprintable()) or None,
        limit=PAGE_SIZE + 1,
    )
    page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    zone = admin.settings.zone()
    names, default = admin.plans.names(), admin.plans.default_name()
    seen = activity(admin, page)
    rows = [
        {
            "email": r.email,
            "name": r.full_name,
            "status": status_of(r),
            "wifi": wifi_of(r, zone),
            "plan": plan_label(r, names, default),
            "last_sign_in": when(seen[r.id].last_sign_in, zone),
            "online": seen[r.id].online,
        }
        for r in page
    ]
    message = take(request, str(user.session.id))
    return render(
        request,
        "staff/members.html",
        {
            "title": "Members",
            "rows": rows,
            "q": q,
            "status": status,
            "statuses": STATUSES,
            "after": after,
            "next_after": page[-1].email if more and page else "",
            "can_change": user.role.allows(Role.OPERATOR),
            "flash": message,
        },
        user=user,
    )


@router.post(BULK_PATH)
def bulk(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    action: Annotated[str, Form(max_length=20)] = "",
    email: _Emails = [],  # noqa: B006 (FastAPI copies defaults)
    back: Annotated[str, Form(max_length=800)] = "",
) -> Response:
    """Disable or enable the ticked members, or ask to confirm reminders for them."""
    emails = _ticked(email)
    target = back if back.startswith(MEMBERS_PATH) and "//" not in back else MEMBERS_PATH
    if not emails or len(emails) > MAX_TICKED:
        return done(request, user, target, _TICK, "error")
    if action == "remind":
        return render(
            request,
            "staff/remind_confirm.html",
            {"title": "Send PIN reminders?", "emails": emails, "back": target},
            user=user,
        )
    if action not in ("disable", "enable"):
        return done(request, user, target, "Choose an action for the ticked members.", "error")
    changed, failed = 0, []
    for address in emails:
        try:
            result = user.admin.customers.update(address, CustomerUpdate(active=action == "enable"))
        except REFUSALS as exc:
            failed.append(f"{address}: {sentence(exc)}")
            continue
        changed += result.changed
    verb = "Enabled" if action == "enable" else "Disabled"
    text = f"{verb} {changed} of {len(emails)} member{'s' if len(emails) != 1 else ''}."
    if failed:
        text += " Not changed: " + " ".join(failed)
    return done(request, user, target, text, "error" if failed else "notice")


@router.post(REMIND_PATH)
def remind(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    email: _Emails = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    """Send the confirmed reminders; per-member results on the next page."""
    emails = _ticked(email)
    if not emails or len(emails) > MAX_TICKED:
        return done(request, user, MEMBERS_PATH, _TICK, "error")
    reminders = user.admin.reminders
    try:
        plan = reminders.plan(reminders.smtp(dry_run=False).config, emails)
    except REFUSALS as exc:
        return done(request, user, MEMBERS_PATH, f"No reminder sent. {sentence(exc)}", "error")
    results = [
        {"email": d.recipient, "status": "sent" if d.ok else "failed", "reason": d.reason or ""}
        for d in reminders.send(plan, via=VIA)
    ]
    results += [{"email": e, "status": "skipped", "reason": why} for e, why in plan.skipped]
    counts = {k: sum(r["status"] == k for r in results) for k in ("sent", "failed", "skipped")}
    _log.info("web_reminders", actor=user.admin.actor, **counts)
    text = "Reminders: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + "."
    kind = "error" if counts["failed"] else "notice"
    return done(request, user, REMINDED_PATH, text, kind, results=results)


@router.get(REMINDED_PATH)
def reminded(
    request: Request, user: Annotated[StaffUser, Depends(staff_page(Role.OPERATOR))]
) -> Response:
    """The per-member results of the reminders just sent (shown once)."""
    message = take(request, str(user.session.id))
    return render(
        request,
        "staff/remind_results.html",
        {
            "title": "PIN reminders",
            "flash": message,
            "results": message.data.get("results", []) if message else [],
        },
        user=user,
    )
