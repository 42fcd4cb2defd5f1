"""The ``auth_decisions`` table and ``customers.last_sign_in_at``: writing, pruning, reading.

Servers write decisions in batches (runtime/decisions.py): one transaction per
batch inserts the rows (one multi-row INSERT) and moves each accepted member's
``last_sign_in_at`` forward. Readers (admin/decisions.py) list recent decisions by
id, newest first, and give a page of members their last sign-in and devices online
in one query. See docs/architecture.md "Recent decisions".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    bindparam,
    delete,
    distinct,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.decision_log import DecisionRow
from radius_server.store.database import begin_write
from radius_server.store.models import AccountingSession, AuthDecision, Customer
from radius_server.store.records import as_utc

_TABLE = AuthDecision.__table__
_CUSTOMERS = Customer.__table__
_SESSIONS = AccountingSession.__table__

# Only ever forward: two instances' batches may arrive in any order.
_MOVE_LAST_SIGN_IN = (
    update(_CUSTOMERS)
    .where(
        _CUSTOMERS.c.id == bindparam("b_id"),
        or_(
            _CUSTOMERS.c.last_sign_in_at.is_(None),
            _CUSTOMERS.c.last_sign_in_at < bindparam("b_at"),
        ),
    )
    .values(last_sign_in_at=bindparam("b_at"))
)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One recorded decision as readers see it."""

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


@dataclass(frozen=True, slots=True)
class MemberActivity:
    """What the members table shows beside a member: last sign-in, devices online now."""

    customer_id: int
    last_sign_in_at: datetime | None
    online_devices: int


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class DecisionStore:
    """Repository of recorded decisions and members' last sign-ins."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # -- the servers' side ----------------------------------------------------------

    def write(
        self, rows: Sequence[DecisionRow], instance: str, sign_ins: Mapping[int, float]
    ) -> dict[int, float]:
        """Insert ``rows`` and move ``last_sign_in_at`` forward to ``sign_ins``, in one
        transaction; return the sign-ins left for later (their member's row was locked).

        On PostgreSQL the members' rows are locked first in id order with SKIP LOCKED:
        two instances never deadlock on them, and a member an admin is editing (an
        import holding many rows) costs no wait; that member's sign-in is returned and
        applied with the next batch.
        """
        later: dict[int, float] = {}
        with self.sessions() as session:
            begin_write(session)
            connection = session.connection()
            if rows:
                connection.execute(
                    insert(_TABLE),
                    [
                        {
                            "at": _when(row.at),
                            "user_name": row.user_name,
                            "customer_id": row.customer_id,
                            "client_name": row.client_name,
                            "calling_station": row.calling_station,
                            "method": row.method,
                            "outcome": row.outcome,
                            "reason": row.reason,
                            "plan": row.plan,
                            "instance": instance,
                        }
                        for row in rows
                    ],
                )
            ids = sorted(sign_ins)
            if ids and connection.dialect.name == "postgresql":
                c = _CUSTOMERS.c
                got = set(
                    connection.execute(
                        select(c.id)
                        .where(c.id.in_(ids))
                        .order_by(c.id)
                        .with_for_update(skip_locked=True)
                    ).scalars()
                )
                missing = [i for i in ids if i not in got]
                if missing:
                    # Locked (kept for later) or removed (forgotten): a plain read tells.
                    exists = connection.execute(select(c.id).where(c.id.in_(missing))).scalars()
                    later = {i: sign_ins[i] for i in exists}
                ids = [i for i in ids if i in got]
            if ids:
                connection.execute(
                    _MOVE_LAST_SIGN_IN, [{"b_id": i, "b_at": _when(sign_ins[i])} for i in ids]
                )
            session.commit()
        return later

    def prune(self, now: float, retention_seconds: float, limit: int = 5000) -> int:
        """Delete up to ``limit`` decisions older than ``retention_seconds``; return how many.

        Bounded so one call stays short however much is due (the caller repeats while
        a full ``limit`` went); several instances pruning at once is harmless.
        """
        cutoff = _when(now) - timedelta(seconds=retention_seconds)
        c = _TABLE.c
        oldest = select(c.id).where(c.at < cutoff).order_by(c.at).limit(limit)
        with self.sessions() as session:
            begin_write(session)
            ids = list(session.connection().execute(oldest).scalars())
            if ids:
                session.connection().execute(delete(_TABLE).where(c.id.in_(ids)))
            session.commit()
        return len(ids)

    # -- the readers' side ----------------------------------------------------------

    def recent(
        self,
        *,
        user: str | None = None,
        client: str | None = None,
        outcome: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[DecisionRecord]:
        """Decisions newest first (by id: the order they were recorded), filtered."""
        c = _TABLE.c
        stmt = select(_TABLE).order_by(c.id.desc()).limit(limit)
        if user is not None:
            stmt = stmt.where(c.user_name == user)
        if client is not None:
            stmt = stmt.where(c.client_name == client)
        if outcome is not None:
            stmt = stmt.where(c.outcome == outcome)
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        with self.sessions() as session:
            return [
                DecisionRecord(
                    id=row.id,
                    at=as_utc(row.at) or _when(0),
                    user=row.user_name,
                    customer_id=row.customer_id,
                    client=row.client_name,
                    calling_station=row.calling_station,
                    method=row.method,
                    outcome=row.outcome,
                    reason=row.reason,
                    plan=row.plan,
                    instance=row.instance,
                )
                for row in session.connection().execute(stmt)
            ]

    def activity(self, customer_ids: Sequence[int]) -> dict[int, MemberActivity]:
        """Last sign-in and devices online for a page of members, in one query.

        Devices online are the member's open sessions (a device is its
        Calling-Station-Id; a session without one counts alone), each found through
        ``ix_sessions_member_open``: the cost grows with the page, not the table.
        """
        if not customer_ids:
            return {}
        s = _SESSIONS.c
        online = (
            select(func.count(distinct(func.coalesce(s.calling_station_id, s.unique_key))))
            .where(s.member_email == _CUSTOMERS.c.email, s.stopped_at.is_(None))
            .scalar_subquery()
        )
        c = _CUSTOMERS.c
        stmt = select(c.id, c.last_sign_in_at, online).where(c.id.in_(list(customer_ids)))
        with self.sessions() as session:
            return {
                row[0]: MemberActivity(row[0], as_utc(row[1]), int(row[2] or 0))
                for row in session.connection().execute(stmt)
            }
