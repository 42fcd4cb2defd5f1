"""Audit trail and change feed, written inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from radius_server.store.bulk_insert import insert_rows
from radius_server.store.models import AuditEvent, Change
from radius_server.store.records import AuditRecord, as_utc

CUSTOMER = "customer"
CLIENT = "client"
# A plan or location changed: running servers reload every plan and location.
PLAN = "plan"
LOCATION = "location"


def utcnow() -> datetime:
    """Current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def record_change(session: Session, entity: str, entity_id: int) -> None:
    """Append to the change feed that running servers follow."""
    session.add(Change(entity=entity, entity_id=entity_id, at=utcnow()))


def record_changes(session: Session, entity: str, entity_ids: Iterable[int]) -> None:
    """Append many changes in one statement (a bulk upsert's thousands of members)."""
    now = utcnow()
    rows = [{"entity": entity, "entity_id": id_, "at": now} for id_ in entity_ids]
    insert_rows(session, Change.__table__, rows)


def audit(session: Session, actor: str, action: str, target: str, **details: Any) -> None:
    """Append an audit event. Callers pass field names changed, never PIN or secret values."""
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            target=target,
            details=json.dumps(details, sort_keys=True, default=str) if details else "",
        )
    )


def recent_audit(
    session: Session, limit: int = 50, target: str | None = None, before_id: int | None = None
) -> list[AuditRecord]:
    """Newest audit events first; ``before_id``: only older ones (the next page)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if target:
        query = query.where(AuditEvent.target == target)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return [
        AuditRecord(e.id, as_utc(e.at), e.actor, e.action, e.target, e.details)
        for e in session.scalars(query)
    ]
