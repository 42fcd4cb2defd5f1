"""``/api/v1/audit``: the audit trail (who did what to whom), newest first, a page at a time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from radius_server.store.records import AuditRecord
from radius_server.web.api.pagination import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from radius_server.web.auth import Caller, readonly
from radius_server.web.problems import INVALID_REQUEST, Problem

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    """One admin action; ``details`` names changed fields, never a PIN or secret value."""

    id: int
    at: datetime | None
    actor: str = Field(description="who: a system user, 'token:NAME', a web user...")
    action: str = Field(description="what, e.g. customer.add, pin.set, client.remove")
    target: str = Field(description="on whom or what (an email, a client's name)")
    details: dict[str, Any]


class AuditPage(BaseModel):
    """One page of events and the cursor of the next (None: this was the last)."""

    items: list[AuditEventOut]
    next_cursor: str | None


def _details(text: str) -> dict[str, Any]:
    # store.journal.audit writes a JSON object; anything older or odd is kept as text.
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"text": text}


def _event(record: AuditRecord) -> AuditEventOut:
    data = record.to_dict()
    data["details"] = _details(record.details)
    return AuditEventOut(**data)


def _before(cursor: str | None) -> int | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    if not key.isdigit():
        raise Problem(INVALID_REQUEST, "not a cursor this API gave", field="cursor")
    return int(key)


@router.get("", response_model=AuditPage)
def list_audit(
    caller: Annotated[Caller, Depends(readonly)],
    target: Annotated[
        str | None, Query(max_length=254, description="only actions on this email or name")
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> AuditPage:
    """Audit events, newest first, optionally for one target."""
    records = caller.admin.customers.history(limit + 1, target, before_id=_before(cursor))
    page = records[:limit]
    more = len(records) > limit
    return AuditPage(
        items=[_event(r) for r in page],
        next_cursor=encode_cursor(str(page[-1].id)) if more and page else None,
    )
