"""Access plans and locations in the database: rows to records, and reading them all.

The repository that adds and edits plans lives beside this; running servers read
every plan and location at once (there are few) when the change feed names one.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from radius_server.store.models import AccessPlan, Customer, PlanLocation, SiteLocation
from radius_server.store.records import LocationRecord, PlanRecord, as_utc


def location_to_record(row: SiteLocation) -> LocationRecord:
    """ORM row to plain value."""
    return LocationRecord(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def decode_reply_attributes(text: str) -> tuple[tuple[str, str], ...]:
    """The stored JSON list of [name, value] pairs as a tuple of pairs."""
    return tuple((str(name), str(value)) for name, value in json.loads(text or "[]"))


def encode_reply_attributes(pairs: tuple[tuple[str, str], ...]) -> str:
    """A tuple of (name, value) pairs as the stored JSON list."""
    return json.dumps([list(pair) for pair in pairs], separators=(",", ":"))


def plan_to_record(row: AccessPlan, location_ids: frozenset[int] | None) -> PlanRecord:
    """ORM row (and where it is valid: None everywhere) to plain value."""
    return PlanRecord(
        id=row.id,
        name=row.name,
        is_default=row.is_default,
        vlan=row.vlan,
        down_kbps=row.down_kbps,
        up_kbps=row.up_kbps,
        session_timeout=row.session_timeout,
        idle_timeout=row.idle_timeout,
        interim_interval=row.interim_interval,
        device_limit=row.device_limit,
        hours=row.hours,
        location_ids=location_ids,
        reply_attributes=decode_reply_attributes(row.reply_attributes),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def plan_location_ids(session: Session) -> dict[int, frozenset[int]]:
    """Plan id -> the locations it is limited to (only plans that are limited)."""
    found: dict[int, set[int]] = defaultdict(set)
    for plan_id, location_id in session.execute(
        select(PlanLocation.plan_id, PlanLocation.location_id)
    ):
        found[plan_id].add(location_id)
    return {plan_id: frozenset(ids) for plan_id, ids in found.items()}


def load_plans(session: Session) -> list[PlanRecord]:
    """Every plan, by name."""
    limited = plan_location_ids(session)
    rows = session.scalars(select(AccessPlan).order_by(AccessPlan.name))
    return [
        plan_to_record(row, None if row.all_locations else limited.get(row.id, frozenset()))
        for row in rows
    ]


def load_locations(session: Session) -> list[LocationRecord]:
    """Every location, by name."""
    rows = session.scalars(select(SiteLocation).order_by(SiteLocation.name))
    return [location_to_record(row) for row in rows]


def current_plan(session: Session, email: str) -> PlanRecord | None:
    """The plan a member has now: their own, else the default one; None if neither exists.

    Read from the database, not a server's directory: a plan change and its
    ``plan_changed`` job commit together, and the job may be worked before the
    change feed has brought the change to this server.
    """
    plan_id = session.scalar(select(Customer.plan_id).where(Customer.email == email))
    row = session.get(AccessPlan, plan_id) if plan_id is not None else None
    if row is None:
        row = session.scalars(select(AccessPlan).where(AccessPlan.is_default)).first()
    if row is None:
        return None
    limited = None
    if not row.all_locations:
        limited = frozenset(
            session.scalars(select(PlanLocation.location_id).where(PlanLocation.plan_id == row.id))
        )
    return plan_to_record(row, limited)
