"""``/api/v1/decisions``: recent sign-in decisions, for "why can't I get on?" (read-only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from radius_server.store.decisions import DecisionRecord
from radius_server.web.api.pagination import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from radius_server.web.auth import Caller, readonly
from radius_server.web.problems import INVALID_REQUEST, Problem

router = APIRouter(prefix="/decisions", tags=["decisions"])


class DecisionOutcome(StrEnum):
    """The outcomes the servers record."""

    accept = "accept"
    reject = "reject"


class DecisionOut(BaseModel):
    """One recorded decision: who, where, how, what and why (never a PIN)."""

    id: int
    at: datetime
    user: str
    customer_id: int | None
    client: str
    calling_station: str | None
    method: str | None
    outcome: str
    reason: str
    plan: str | None
    instance: str


class DecisionPageOut(BaseModel):
    """One page of decisions, newest first, and the cursor of the next (None: the last)."""

    items: list[DecisionOut]
    next_cursor: str | None


def decision_out(record: DecisionRecord) -> DecisionOut:
    """The API's view of a recorded decision."""
    return DecisionOut(
        id=record.id,
        at=record.at,
        user=record.user,
        customer_id=record.customer_id,
        client=record.client,
        calling_station=record.calling_station,
        method=record.method,
        outcome=record.outcome,
        reason=record.reason,
        plan=record.plan,
        instance=record.instance,
    )


def _before_id(cursor: str | None) -> int | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    if not key.isdigit() or int(key) < 1:
        raise Problem(INVALID_REQUEST, "not a cursor this API gave", field="cursor")
    return int(key)


@router.get("", response_model=DecisionPageOut)
def list_decisions(
    caller: Annotated[Caller, Depends(readonly)],
    user: Annotated[
        str | None, Query(max_length=254, description="a member's email or a User-Name")
    ] = None,
    client: Annotated[str | None, Query(max_length=100, description="an access point")] = None,
    outcome: DecisionOutcome | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> DecisionPageOut:
    """Recent Access-Request decisions (accept or reject, with the log's reason), newest first."""
    page = caller.admin.decisions.recent(
        user=user,
        client=client,
        outcome=None if outcome is None else outcome.value,
        limit=limit,
        before_id=_before_id(cursor),
    )
    return DecisionPageOut(
        items=[decision_out(d) for d in page.decisions],
        next_cursor=None if page.next_before is None else encode_cursor(str(page.next_before)),
    )
