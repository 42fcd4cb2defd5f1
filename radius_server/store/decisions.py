"""The ``auth_decisions`` table and ``customers.last_sign_in_at``: writing, pruning, reading.

Servers write decisions in batches (runtime/decisions.py): one transaction per
batch inserts the rows (one multi-row INSERT) and moves each accepted member's
``last_sign_in_at`` forward. Readers (admin/decisions.py) list recent decisions by
id, newest first, and give a page of members their last sign-in and devices online
in one query. See docs/architecture.md "Recent decisions".
"""

from __future__ import annotations

import json
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
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.decision_log import DecisionRow
from radius_server.store.database import begin_write
from radius_server.store.models import AccountingSession, AuthDecision, Customer
from radius_server.store.records import as_utc

_TABLE = AuthDecision.__table__
_CUSTOMERS = Customer.__table__
_SESSIONS = AccountingSession.__table__

# PostgreSQL: a whole batch travels as one JSON parameter (an array of rows, each
# DecisionRow's fields in order), so the statement text never changes and the driver
# adapts one value instead of ten per row. jsonb, parsed once: with json each ->>
# parses the element again (9.3 against 6.5 us of PostgreSQL CPU per row, measured).
_PG_INSERT = text(
    """
    INSERT INTO auth_decisions (at, user_name, customer_id, client_name, calling_station,
                                method, outcome, reason, plan, instance)
    SELECT to_timestamp((e->>0)::float8), e->>1, (e->>2)::bigint, e->>3, e->>4,
           e->>5, e->>6, e->>7, e->>8, :instance
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS e
    """
)
# PostgreSQL: members' rows locked in id order, skipping any another transaction holds
# (see DecisionStore.write), and only those whose last sign-in really moves forward.
_PG_MOVE_LAST_SIGN_IN = text(
    """
    UPDATE customers AS c SET last_sign_in_at = l.at
    FROM (
        SELECT m.id, v.at FROM customers AS m
        JOIN (
            SELECT (e->>0)::bigint AS id, to_timestamp((e->>1)::float8) AS at
            FROM jsonb_array_elements(CAST(:sign_ins AS jsonb)) AS e
        ) AS v ON m.id = v.id
        WHERE m.last_sign_in_at IS NULL OR m.last_sign_in_at < v.at
        ORDER BY m.id
        FOR UPDATE OF m SKIP LOCKED
    ) AS l
    WHERE c.id = l.id
    RETURNING c.id
    """
)
# PostgreSQL: of the sign-ins the UPDATE did not move, those still ahead of the stored
# one (their member's row was locked); not a row lock, a plain read.
_PG_STILL_BEHIND = text(
    """
    SELECT m.id FROM customers AS m
    JOIN (
        SELECT (e->>0)::bigint AS id, to_timestamp((e->>1)::float8) AS at
        FROM jsonb_array_elements(CAST(:sign_ins AS jsonb)) AS e
    ) AS v ON m.id = v.id
    WHERE m.last_sign_in_at IS NULL OR m.last_sign_in_at < v.at
    """
)
# SQLite (one box; BEGIN IMMEDIATE serializes writers): only ever forward, as well.
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

        Never backward: instances' batches may arrive in any order. On PostgreSQL the
        members' rows are locked in id order with SKIP LOCKED: two instances never
        deadlock on them, and a member an admin transaction holds (an import) costs no
        wait; that member's sign-in is returned, to be applied with a later batch.
        """
        with self.sessions() as session:
            begin_write(session)
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                later = self._write_postgresql(connection, rows, instance, sign_ins)
            else:
                later = self._write_sqlite(connection, rows, instance, sign_ins)
            session.commit()
        return later

    @staticmethod
    def _write_postgresql(
        connection: Connection,
        rows: Sequence[DecisionRow],
        instance: str,
        sign_ins: Mapping[int, float],
    ) -> dict[int, float]:
        if rows:
            connection.execute(_PG_INSERT, {"rows": json.dumps(rows), "instance": instance})
        if not sign_ins:
            return {}
        moved = set(
            connection.execute(
                _PG_MOVE_LAST_SIGN_IN, {"sign_ins": json.dumps(list(sign_ins.items()))}
            ).scalars()
        )
        if len(moved) == len(sign_ins):
            return {}
        # The rest: already as recent (nothing to do), removed (forgotten), or locked by
        # another transaction (kept for later). A plain read tells them apart, comparing
        # in SQL with the same to_timestamp() as the UPDATE: Python's datetime rounds a
        # float to the microsecond differently (1 in 30 differ by 1 us), and a sign-in
        # compared there came back "locked" at every batch for good.
        rest = [[i, sign_ins[i]] for i in sign_ins if i not in moved]
        behind = connection.execute(_PG_STILL_BEHIND, {"sign_ins": json.dumps(rest)}).scalars()
        return {member: sign_ins[member] for member in behind}

    @staticmethod
    def _write_sqlite(
        connection: Connection,
        rows: Sequence[DecisionRow],
        instance: str,
        sign_ins: Mapping[int, float],
    ) -> dict[int, float]:
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
        if sign_ins:
            connection.execute(
                _MOVE_LAST_SIGN_IN,
                [{"b_id": i, "b_at": _when(at)} for i, at in sorted(sign_ins.items())],
            )
        return {}

    def prune(self, now: float, retention_seconds: float, limit: int = 5000) -> int:
        """Delete decisions older than ``retention_seconds`` among the ``limit`` oldest ids;
        return how many.

        Ids follow the order rows were written, which is the decisions' order to within
        a batch (or an outage's backlog), so the oldest ids are the rows due, found
        through the primary key: no index on ``at`` to keep up on every insert. The
        caller repeats while a whole chunk went; one call stays one short transaction
        however much is due, and several instances pruning at once is harmless.
        """
        cutoff = _when(now) - timedelta(seconds=retention_seconds)
        c = _TABLE.c
        with self.sessions() as session:
            begin_write(session)
            connection = session.connection()
            oldest = connection.execute(select(c.id, c.at).order_by(c.id).limit(limit))
            due = [row_id for row_id, at in oldest if (as_utc(at) or cutoff) < cutoff]
            if due:
                connection.execute(delete(_TABLE).where(c.id.in_(due)))
            session.commit()
        return len(due)

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
