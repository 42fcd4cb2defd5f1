"""Members a plan change reaches while they are online, and their plan_changed jobs.

A plan edited, a member's plan reassigned, the default flag moved, a location's
time zone or a NAS's vendor or location changed: members already online got
their attributes under the old rules, so each gets one ``plan_changed`` job
(store/disconnects.py) in the same transaction as the change. The sender then
updates the session with a CoA-Request where the NAS takes them, else ends it
(RFC 5176). Only members with an open session get a job, so the work is bounded
by the members online, never by the members of a plan.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from radius_server.store import disconnects
from radius_server.store.models import AccessPlan, AccountingSession, Customer


def default_plan_id(session: Session) -> int | None:
    """The default plan's id (None only in a database emptied by hand)."""
    return session.scalar(select(AccessPlan.id).where(AccessPlan.is_default.is_(True)).limit(1))


def members_of(session: Session, plan_ids: Collection[int]) -> ColumnElement[bool]:
    """Customers whose plan, own or default, is one of ``plan_ids``."""
    if not plan_ids:
        return false()
    condition: ColumnElement[bool] = Customer.plan_id.in_(list(plan_ids))
    default = default_plan_id(session)
    if default is not None and default in plan_ids:
        condition = or_(condition, Customer.plan_id.is_(None))
    return condition


def online_members(
    session: Session,
    plan_ids: Collection[int] | None = None,
    *,
    unassigned: bool = False,
    clients: Collection[str] | None = None,
) -> list[str]:
    """Emails of members with an open session, by email.

    ``plan_ids``: only members whose plan (own or default) is one of them;
    ``unassigned``: only members without a plan of their own (they follow the
    default flag); ``clients``: only sessions on these NAS (by client name).
    """
    query = (
        select(Customer.email)
        .join(AccountingSession, AccountingSession.member_email == Customer.email)
        .where(AccountingSession.stopped_at.is_(None))
        .distinct()
        .order_by(Customer.email)
    )
    if plan_ids is not None:
        query = query.where(members_of(session, plan_ids))
    if unassigned:
        query = query.where(Customer.plan_id.is_(None))
    if clients is not None:
        if not clients:
            return []
        query = query.where(AccountingSession.client_name.in_(list(clients)))
    return list(session.scalars(query))


def enqueue_all(session: Session, emails: Collection[str], actor: str) -> int:
    """One ``plan_changed`` job per member, in the caller's transaction; how many."""
    for email in emails:
        disconnects.enqueue(session, email, disconnects.PLAN_CHANGED, actor)
    return len(emails)


def reassigned(
    session: Session,
    email: str,
    before: int | None,
    after: int | None,
    actor: str,
    default: int | None,
    online: Collection[str] | None = None,
) -> bool:
    """Queue a job when a member's plan really changes and they are online; whether it did.

    ``online``: the members online, when the caller already has them (a bulk
    upsert asks once, not once per member).

    ``before``/``after`` are ``customers.plan_id`` values (None: the default plan,
    ``default``), so moving a member from "default" to the default plan by name
    changes nothing.
    """
    old = before if before is not None else default
    new = after if after is not None else default
    if old == new:
        return False
    known = online is not None
    if not (email in online if known else disconnects.has_open_session(session, email)):
        return False
    disconnects.enqueue(session, email, disconnects.PLAN_CHANGED, actor)
    return True


def moved_nas(session: Session, client_name: str, *, vendor: bool, location: bool) -> list[str]:
    """Members online at a NAS whose Accept its new vendor or location changes.

    A new location matters to plans limited to some locations or with hours (read
    in the location's zone); a new vendor to plans that send VLAN, bandwidth or
    extra attributes (said differently per vendor). The default plan as migrated
    sets none of these, so moving a NAS before plans are in use disturbs nobody.
    """
    conditions: list[ColumnElement[bool]] = []
    if location:
        conditions += [AccessPlan.all_locations.is_(False), AccessPlan.hours.isnot(None)]
    if vendor:
        conditions += [
            AccessPlan.vlan.isnot(None),
            AccessPlan.down_kbps.isnot(None),
            AccessPlan.up_kbps.isnot(None),
            AccessPlan.reply_attributes != "[]",
        ]
    if not conditions:
        return []
    plan_ids = list(session.scalars(select(AccessPlan.id).where(or_(*conditions))))
    return online_members(session, plan_ids, clients=[client_name]) if plan_ids else []
