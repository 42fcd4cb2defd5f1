"""``/api/v1/reminders``: email members their PIN from the shared template (operator).

The same steps as ``radius-server pin remind`` (admin/reminders.py): choose the
members (one unknown email refuses all), build every message before sending any,
send, audit each delivery. The answer has one result per member, never a PIN.
The request lasts as long as the sending (smtp_rate_per_minute paces it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from radius_server.web.auth import Caller, operator
from radius_server.web.problems import INVALID_REQUEST, Problem

router = APIRouter(prefix="/reminders", tags=["reminders"])

# Audited as how each reminder was sent (store/templates.record_reminder ``via``).
VIA = "api"
MAX_NAMED = 1000


class ReminderIn(BaseModel):
    """Whom to remind: named members, or ``all`` (narrowed by the filters); a dry run sends none."""

    emails: list[str] = Field(default_factory=list, max_length=MAX_NAMED)
    all: bool = Field(default=False, description="every member (combine with the filters)")
    active_only: bool = Field(default=False, description="only members who are not disabled")
    wifi_only: bool = Field(default=False, description="only members with Wi-Fi access")
    dry_run: bool = Field(default=False, description="say who would get it; send nothing")


class ReminderResult(BaseModel):
    """What happened for one member."""

    email: str
    status: Literal["sent", "failed", "skipped", "would_send"]
    reason: str | None = Field(default=None, description="why it failed or was skipped")
    error: str | None = Field(default=None, description="the kind of failure (SMTP reply...)")
    subject: str | None = Field(default=None, description="on a dry run: the subject")


class ReminderReport(BaseModel):
    """Per-member results and their counts; ``warnings`` about the settings used."""

    dry_run: bool
    server: str = Field(description="the SMTP server, security and user (never the password)")
    sender: str
    sent: int
    failed: int
    skipped: int
    results: list[ReminderResult]
    warnings: list[str]


@router.post("", response_model=ReminderReport)
def send_reminders(
    body: ReminderIn, caller: Annotated[Caller, Depends(operator)]
) -> ReminderReport:
    """Email PIN reminders; a failure for one member never stops the others."""
    if bool(body.emails) == body.all:
        raise Problem(
            INVALID_REQUEST, "name the members in emails, or set all (not both)", field="emails"
        )
    reminders = caller.admin.reminders
    smtp = reminders.smtp(dry_run=body.dry_run)
    plan = reminders.plan(
        smtp.config, body.emails, active_only=body.active_only, wifi_only=body.wifi_only
    )
    skipped = [ReminderResult(email=e, status="skipped", reason=why) for e, why in plan.skipped]
    if body.dry_run:
        results = [
            ReminderResult(email=r.email, status="would_send", subject=str(m["Subject"]))
            for r, m in zip(plan.recipients, plan.messages, strict=True)
        ]
    else:
        results = [
            ReminderResult(
                email=d.recipient, status=d.status, error=d.error, reason=d.reason or None
            )
            for d in reminders.send(plan, via=VIA)
        ]
    failed = sum(r.status == "failed" for r in results)
    return ReminderReport(
        dry_run=body.dry_run,
        server=plan.config.describe(),
        sender=str(plan.config.sender),
        sent=0 if body.dry_run else len(results) - failed,
        failed=failed,
        skipped=len(skipped),
        results=results + skipped,
        warnings=[smtp.warning] if smtp.warning else [],
    )
