"""The membership platform's push: ``PUT /customers/{email}`` and ``POST /customers:sync``.

Both are idempotent: a member already in the state sent is ``unchanged`` and
nothing is written (no audit row), so a platform may retry freely. Both go
through the admin layer's upsert (store/member_upsert.py, the CSV import's
engine): one transaction, every row checked before anything is written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from radius_server.admin.customers import MemberState
from radius_server.store.member_upsert import ImportReport
from radius_server.web.api.common import no_store
from radius_server.web.api.customer_models import (
    MemberStateIn,
    SyncCounts,
    SyncIn,
    SyncOut,
    SyncResult,
    UpsertOut,
    customer_out,
)
from radius_server.web.api.customers import EmailPath, location, plan_names
from radius_server.web.auth import Caller, operator
from radius_server.web.problems import INVALID_ROWS, Problem

router = APIRouter(tags=["customers"])


@router.put(
    "/customers/{email}",
    response_model=UpsertOut,
    responses={
        201: {"model": UpsertOut, "description": "Created; Location names the member"},
        409: {"description": "pin-taken: another member has that PIN"},
    },
)
def upsert_customer(
    email: EmailPath,
    body: MemberStateIn,
    caller: Annotated[Caller, Depends(operator)],
    response: Response,
) -> UpsertOut:
    """Create (201) or update (200) a member to the state sent; safe to retry.

    ``result`` says created, updated or unchanged and ``changed`` names the fields.
    The PIN is in the answer only when this request set it (given and new, or
    drawn for a new member).
    """
    result = caller.admin.customers.upsert(email, body.fields())
    if result.pin_set:
        no_store(response)
    if result.outcome == "created":
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = location(result.record.email)
    return UpsertOut(
        result=result.outcome,  # type: ignore[arg-type]  (one of the Outcome words)
        changed=list(result.changed),
        customer=customer_out(
            result.record,
            include_pin=result.pin_set and caller.sees_pins,
            plans=plan_names(caller, result.record),
        ),
        warnings=list(result.warnings),
    )


def _results(report: ImportReport, show_pins: bool) -> list[SyncResult]:
    pins = report.pins if show_pins else {}
    results = [SyncResult(email=e, result="created", pin=pins.get(e)) for e in report.created]
    results += [
        SyncResult(email=e, result="updated", changed=report.changes.get(e, []), pin=pins.get(e))
        for e in report.updated
    ]
    results += [SyncResult(email=e, result="unchanged") for e in report.unchanged]
    results += [SyncResult(email=e, result="disabled", changed=["active"]) for e in report.disabled]
    return results


@router.post(
    "/customers:sync",
    response_model=SyncOut,
    responses={422: {"description": "invalid-rows: every bad member listed; nothing written"}},
)
def sync_customers(
    body: SyncIn, caller: Annotated[Caller, Depends(operator)], response: Response
) -> SyncOut:
    """A full sync: bring every member sent to its state, in one transaction.

    All or nothing: one bad member (or a PIN another member holds) and nothing is
    written; the 422 problem lists every bad member (``errors``: index, email,
    field, reason). ``disable_missing``: active members not in the feed are
    disabled. ``results`` has one entry per member, with any PIN this sync chose.
    """
    report = caller.admin.customers.sync(
        [MemberState(m.email, m.fields()) for m in body.members],
        disable_missing=body.disable_missing,
        dry_run=body.dry_run,
    )
    if not report.ok:
        raise Problem(
            INVALID_ROWS,
            f"{len(report.errors)} of {len(body.members)} members are not valid; nothing written",
            errors=[
                {"index": e.line, "email": e.email, "field": e.field, "reason": e.reason}
                for e in report.errors
            ],
        )
    if report.pins:
        no_store(response)
    return SyncOut(
        dry_run=report.dry_run,
        written=report.written,
        counts=SyncCounts(
            created=len(report.created),
            updated=len(report.updated),
            unchanged=len(report.unchanged),
            disabled=len(report.disabled),
        ),
        results=_results(report, caller.sees_pins),
        warnings=report.warnings,
    )
