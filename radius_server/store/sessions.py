"""Accounting sessions: merging accounting records into rows, closing, pruning, listing.

A batch of accounting records (RFC 2866, RFC 2869) becomes, per segment between
Accounting-On/Off records, one multi-row ``INSERT ... ON CONFLICT (unique_key) DO
UPDATE`` whose update applies the merge rule of ``rules/accounting.combine`` in SQL
(GREATEST for counters, COALESCE for first or latest known values), so a record
applied twice changes nothing and records of one session merged in memory first
give the same row as applied one by one. See docs/architecture.md "Sessions".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from radius_server.rules.accounting import (
    CLOSE_DISCONNECT,
    CLOSE_NAS_RESTART,
    CLOSE_REPLACED,
    CLOSE_STALE,
    CLOSE_STOP,
    AccountingRecord,
    SessionUpdate,
    StatusType,
    merge,
)
from radius_server.rules.throttle import safe_text
from radius_server.store.database import begin_write
from radius_server.store.errors import InvalidValue, SessionNotFound
from radius_server.store.models import AccountingSession
from radius_server.store.records import SessionRecord, as_utc
from radius_server.store.watchdog import guard_driver

_TABLE = AccountingSession.__table__
# Reasons ``close`` accepts (a Stop comes only from the NAS, through ``write``).
CLOSE_REASONS = frozenset({CLOSE_STALE, CLOSE_NAS_RESTART, CLOSE_REPLACED, CLOSE_DISCONNECT})
# Every change to ``sessions`` holds this PostgreSQL transaction-level advisory lock:
# writers take turns, as SQLite's BEGIN IMMEDIATE makes them. Without it two instances'
# batches deadlock readily: the upsert locks rows in key order, but the closes that
# follow it (a Start replacing a session, Accounting-On) lock rows in scan order.
# A batch of 1000 takes about 0.1 s, so taking turns costs little.
_WRITER_LOCK = 0x7261647375736573  # b"radsuses": any constant, the same in every instance
# PostgreSQL: deadlock_detected, serialization_failure. Writes are idempotent, so the
# whole batch is simply tried again (a change from outside this class may still race).
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_WRITE_ATTEMPTS = 5


class _greatest(FunctionElement[Any]):
    """GREATEST(a, b) on PostgreSQL, the scalar max(a, b) on SQLite (both non-NULL here)."""

    name = "greatest"
    inherit_cache = True


class _least(FunctionElement[Any]):
    """LEAST(a, b) on PostgreSQL, the scalar min(a, b) on SQLite."""

    name = "least"
    inherit_cache = True


@compiles(_greatest)
def _greatest_default(element: _greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(_greatest, "sqlite")
def _greatest_sqlite(element: _greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(_least)
def _least_default(element: _least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(_least, "sqlite")
def _least_sqlite(element: _least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


_COUNTERS = ("session_time", "input_octets", "output_octets", "input_packets", "output_packets")
_FIRST = ("nas_ip_address", "nas_identifier", "nas_port", "calling_station_id", "class_hex")
_LATEST = ("nas_address", "called_station_id", "framed_ip_address")
_MEMBER = ("member_email", "customer_id")


# Every column but the id, in table order: what an upsert row carries.
_COLUMNS = tuple(c for c in _TABLE.c if c.name != "id")


def _upsert_statement(dialect: str) -> Any:
    """The multi-row upsert: ``rules/accounting.combine`` with the row as ``old``.

    PostgreSQL takes the rows as one JSON parameter (``INSERT ... SELECT FROM
    json_to_recordset(...)``): the statement text is the same for every batch, so it
    is parsed and planned once, where a 1000-row VALUES list would be parsed every
    time (psycopg's parsing of such a statement alone cost more than the database's
    work, and quoting 25 text arrays almost as much). SQLite, in process, gets the
    one-row statement executed per row (the driver's executemany: SQLAlchemy batches
    VALUES only with RETURNING there); each keeps a statement journal since migration
    0012's triggers, which serve keeps in memory (database.temp_files_in_memory).
    """
    if dialect == "postgresql":
        rows = (
            func.json_to_recordset(cast(bindparam("rows", type_=Text), postgresql.JSON))
            .table_valued(*(column(c.name, c.type) for c in _COLUMNS))
            .render_derived(with_types=True)
        )
        stmt = postgresql.insert(_TABLE).from_select(
            [c.name for c in _COLUMNS], select(*(rows.c[c.name] for c in _COLUMNS))
        )
    else:
        stmt = sqlite.insert(_TABLE)
    new = stmt.excluded
    old = _TABLE.c
    take = and_(old.member_email.is_(None), new.member_email.is_not(None))
    stop = and_(new.stopped_at.is_not(None), func.coalesce(old.close_reason, "") != CLOSE_STOP)
    values: dict[str, Any] = {
        "started_at": _least(old.started_at, new.started_at),
        "updated_at": _greatest(old.updated_at, new.updated_at),
        "user_name": case(
            (take, func.coalesce(func.nullif(new.user_name, ""), old.user_name)),
            else_=func.coalesce(func.nullif(old.user_name, ""), new.user_name),
        ),
        "stopped_at": case((stop, new.stopped_at), else_=old.stopped_at),
        "terminate_cause": case((stop, new.terminate_cause), else_=old.terminate_cause),
        "close_reason": case((stop, new.close_reason), else_=old.close_reason),
    }
    for name in _COUNTERS:
        values[name] = _greatest(old[name], new[name])
    for name in _FIRST:
        values[name] = func.coalesce(old[name], new[name])
    for name in _LATEST:
        values[name] = func.coalesce(new[name], old[name])
    for name in _MEMBER:
        values[name] = case(
            (take, func.coalesce(new[name], old[name])), else_=func.coalesce(old[name], new[name])
        )
    # Only a row that really changes is written (and gets a new changed_at): a replay
    # neither wakes followers nor churns the table.
    changes = or_(*(expr.is_distinct_from(old[name]) for name, expr in values.items()))
    # The number of rows written is the statement's row count (rows skipped by the
    # WHERE are not counted): no RETURNING rows to send and fetch.
    return stmt.on_conflict_do_update(
        index_elements=[old.unique_key],
        set_={**values, "changed_at": new.changed_at},
        where=changes,
    )


# A Start that reuses the key of a stopped session heard before it retires that
# session's key (see ``SessionStore._retire_reused``): one statement on PostgreSQL.
_PG_RETIRE = """
        UPDATE sessions AS s
        SET unique_key = '~' || s.id::text, changed_at = %(now)s
        FROM unnest(%(keys)s::text[], %(ats)s::timestamptz[]) AS v(unique_key, at)
        WHERE s.unique_key = v.unique_key AND s.stopped_at IS NOT NULL AND s.updated_at < v.at
"""
_PG_LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"
# A Start closes the station's other open sessions on that NAS last heard at or
# before it: on PostgreSQL one statement for all the Starts of a segment; on
# SQLite (in process, where a round trip costs nothing) one indexed UPDATE per Start,
# as its planner would scan the table for a join with a JSON list.
# Written so that the plan looks each station up in ix_sessions_client_station and
# each row up by id, whatever the statistics say: as a plain UPDATE ... FROM unnest
# the planner took the stopped_at index on a new database and hashed every open
# session (1 ms per batch at 30,000 rows). Parameters in the driver's style.
_PG_REPLACE = """
        UPDATE sessions AS s
        SET stopped_at = x.at, close_reason = %(reason)s, changed_at = %(now)s
        FROM (
            SELECT o.id, v.at
            FROM unnest(%(clients)s::text[], %(stations)s::text[],
                        %(keys)s::text[], %(ats)s::timestamptz[])
                 AS v(client_name, station, unique_key, at)
            CROSS JOIN LATERAL (
                SELECT o.id FROM sessions AS o
                WHERE o.client_name = v.client_name AND o.calling_station_id = v.station
                  AND o.unique_key <> v.unique_key AND o.stopped_at IS NULL
                  AND o.updated_at <= v.at
                OFFSET 0
            ) AS o
        ) AS x
        WHERE s.id = x.id
"""


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _iso(value: object) -> str:
    """JSON for the datetimes of an upsert row (PostgreSQL reads ISO 8601 with offset)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


_c = _TABLE.c
_SQLITE_REPLACE = (
    update(_TABLE)
    .where(
        _c.client_name == bindparam("b_client"),
        _c.calling_station_id == bindparam("b_station"),
        _c.unique_key != bindparam("b_key"),
        _c.stopped_at.is_(None),
        _c.updated_at <= bindparam("b_at", type_=DateTime(timezone=True)),
    )
    .values(
        stopped_at=bindparam("b_at", type_=DateTime(timezone=True)),
        close_reason=CLOSE_REPLACED,
        changed_at=bindparam("b_now", type_=DateTime(timezone=True)),
    )
)


# What the columns hold. A record is made to fit rather than refused: one odd packet
# (Gigawords 2^32-1, an over-long Class, a NUL in Acct-Session-Id, which PostgreSQL
# refuses in text) must not fail the whole batch again and again. Octets beyond 2^63
# (8 EiB) do not happen in one session.
_BIGINT_MAX = (1 << 63) - 1
_TEXT_COLUMNS = tuple(
    (c.name, c.type.length, c.nullable)
    for c in _COLUMNS
    if isinstance(c.type, String) and c.type.length is not None
)


def _row(update_: SessionUpdate, changed_at: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "unique_key": update_.unique_key,
        "client_name": update_.client_name,
        "nas_address": update_.nas_address,
        "nas_ip_address": update_.nas_ip_address,
        "nas_identifier": update_.nas_identifier,
        "nas_port": update_.nas_port,
        "acct_session_id": update_.acct_session_id,
        "user_name": update_.user_name,
        "member_email": update_.member_email,
        "customer_id": update_.customer_id,
        "calling_station_id": update_.calling_station_id,
        "called_station_id": update_.called_station_id,
        "framed_ip_address": update_.framed_ip_address,
        "class_hex": update_.class_hex,
        "started_at": _when(update_.started_at),
        "updated_at": _when(update_.updated_at),
        "stopped_at": None if update_.stopped_at is None else _when(update_.stopped_at),
        "session_time": min(update_.session_time, _BIGINT_MAX),
        "input_octets": min(update_.input_octets, _BIGINT_MAX),
        "output_octets": min(update_.output_octets, _BIGINT_MAX),
        "input_packets": min(update_.input_packets, _BIGINT_MAX),
        "output_packets": min(update_.output_packets, _BIGINT_MAX),
        "terminate_cause": update_.terminate_cause,
        "close_reason": update_.close_reason,
        "changed_at": changed_at,
    }
    for name, limit, nullable in _TEXT_COLUMNS:
        value = row[name]
        if value is not None:
            value = safe_text(value, limit)
            row[name] = None if nullable and not value else value
    return row


def to_record(row: Any) -> SessionRecord:
    """A ``sessions`` row (ORM object or result row) as a plain value."""
    return SessionRecord(
        id=row.id,
        unique_key=row.unique_key,
        client_name=row.client_name,
        nas_address=row.nas_address,
        nas_ip_address=row.nas_ip_address,
        nas_identifier=row.nas_identifier,
        nas_port=row.nas_port,
        acct_session_id=row.acct_session_id,
        user_name=row.user_name,
        member_email=row.member_email,
        customer_id=row.customer_id,
        calling_station_id=row.calling_station_id,
        called_station_id=row.called_station_id,
        framed_ip_address=row.framed_ip_address,
        class_hex=row.class_hex,
        started_at=as_utc(row.started_at),  # type: ignore[arg-type]
        updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
        stopped_at=as_utc(row.stopped_at),
        session_time=row.session_time,
        input_octets=row.input_octets,
        output_octets=row.output_octets,
        input_packets=row.input_packets,
        output_packets=row.output_packets,
        terminate_cause=row.terminate_cause,
        close_reason=row.close_reason,
        changed_at=as_utc(row.changed_at),  # type: ignore[arg-type]
    )


def _segments(records: Sequence[AccountingRecord]) -> list[tuple[list[AccountingRecord], Any]]:
    """(per-session records, the Accounting-On/Off that follows them or None), in order.

    A Start for a session whose Stop is already in the segment begins a new segment:
    it is a new session that reuses the Acct-Session-Id (see ``_retire_reused``), and
    merging it into the stopped one would reopen nothing and lose the new session.
    """
    segments: list[tuple[list[AccountingRecord], Any]] = []
    current: list[AccountingRecord] = []
    stopped: set[str] = set()
    for record in records:
        if not record.status.per_session:
            segments.append((current, record))
            current, stopped = [], set()
            continue
        if record.status is StatusType.START and record.unique_key in stopped:
            segments.append((current, None))
            current, stopped = [], set()
        current.append(record)
        if record.status is StatusType.STOP:
            stopped.add(record.unique_key)
    if current:
        segments.append((current, None))
    return segments


def _begin(session: Session) -> None:
    """Start a write transaction that has the ``sessions`` table to itself (see _WRITER_LOCK)."""
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_WRITER_LOCK)))


def _retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES


def _reused_starts(records: list[AccountingRecord]) -> dict[str, datetime]:
    """unique key -> the latest Start for it among ``records`` (our clock)."""
    starts: dict[str, float] = {}
    for record in records:
        if record.status is StatusType.START:
            starts[record.unique_key] = max(record.received_at, starts.get(record.unique_key, 0.0))
    return {key: _when(at) for key, at in starts.items()}


def _replace_params(updates: list[SessionUpdate], now: datetime) -> dict[str, Any] | None:
    """Parameters of the replaced-session close: the latest Start per station; None if none."""
    latest: dict[tuple[str, str], SessionUpdate] = {}
    for u in updates:
        if u.start_received_at is None or not u.calling_station_id:
            continue
        key = (u.client_name, u.calling_station_id)
        seen = latest.get(key)
        if seen is None or (seen.start_received_at or 0.0) < u.start_received_at:
            latest[key] = u
    if not latest:
        return None
    starts = sorted(latest.values(), key=lambda u: u.unique_key)
    return {
        "reason": CLOSE_REPLACED,
        "now": now,
        "clients": [u.client_name for u in starts],
        "stations": [u.calling_station_id for u in starts],
        "keys": [u.unique_key for u in starts],
        "ats": [_when(u.start_received_at or 0.0) for u in starts],
    }


def _close_nas_statement(record: AccountingRecord, now: datetime) -> Any:
    """Accounting-On/Off: close the NAS's open sessions heard at or before it."""
    at = _when(record.received_at)
    c = _TABLE.c
    conditions = [
        c.client_name == record.client_name,
        c.stopped_at.is_(None),
        c.updated_at <= at,
    ]
    if record.nas_identifier:
        conditions.append(c.nas_identifier == record.nas_identifier)
    if record.nas_ip_address:
        conditions.append(c.nas_ip_address == record.nas_ip_address)
    return (
        update(_TABLE)
        .where(*conditions)
        .values(stopped_at=at, close_reason=CLOSE_NAS_RESTART, changed_at=now)
    )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``SessionStore.write`` did."""

    records: int  # records applied (after merging duplicates of one session in the batch)
    sessions_closed: int  # by Accounting-On/Off or a new Start on the same station
    sessions_changed: int = 0  # rows inserted or changed by the records (not by closes)
    attempts: int = 1  # 2 and more: a PostgreSQL deadlock or serialization failure was retried


class SessionStore:
    """The ``sessions`` table. Every method is one transaction; blocking (call from a thread)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._upserts: dict[str, Any] = {}

    def _upsert(self, dialect: str) -> Any:
        stmt = self._upserts.get(dialect)
        if stmt is None:
            stmt = self._upserts[dialect] = _upsert_statement(dialect)
        return stmt

    def write(self, records: Sequence[AccountingRecord], now: float) -> WriteResult:
        """Apply ``records`` in order, in one transaction; idempotent (replays change nothing).

        Records of one session are merged first (``rules/accounting.merge``) and each
        run of Start/Stop/Interim records between Accounting-On/Off records is one
        upsert, rows in unique-key order. Writers take turns (``_WRITER_LOCK``); a
        PostgreSQL deadlock or serialization failure that still happens (a change
        made outside this class) rolls back and retries the whole batch.
        """
        if not records:
            return WriteResult(0, 0)
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                result = self._write(records, _when(now))
                return result if attempt == 1 else replace(result, attempts=attempt)
            except DBAPIError as exc:
                if attempt == _WRITE_ATTEMPTS or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _write(self, records: Sequence[AccountingRecord], now: datetime) -> WriteResult:
        with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                return self._write_pipelined(session, records, now)
            applied = closed = changed = 0
            _begin(session)
            conn = session.connection()
            dialect = conn.dialect.name
            for per_session, on_off in _segments(records):
                self._retire_reused(conn, per_session, now)
                updates = merge(per_session)
                if updates:
                    rows = [_row(u, now) for u in updates]
                    changed += conn.execute(self._upsert(dialect), rows).rowcount or 0
                    closed += self._close_replaced(conn, updates, now)
                    applied += len(updates)
                if on_off is not None:
                    closed += self._close_nas(conn, on_off, now)
                    applied += 1
            session.commit()
        return WriteResult(records=applied, sessions_closed=closed, sessions_changed=changed)

    def _pg_upsert(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        """The upsert's text with the driver's placeholders, and its constant parameters."""
        found = self._upserts.get("postgresql-driver")
        if found is None:
            compiled = self._upsert("postgresql").compile(dialect=dialect)
            found = self._upserts["postgresql-driver"] = (compiled.string, dict(compiled.params))
        return found  # type: ignore[no-any-return]

    def _write_pipelined(
        self, session: Session, records: Sequence[AccountingRecord], now: datetime
    ) -> WriteResult:
        """The same statements as on SQLite, sent to PostgreSQL in one psycopg pipeline.

        The lock, each segment's retire/upsert/replace, the Accounting-On/Off closes
        and the COMMIT go out together and their results come back together: one
        round trip per batch instead of one per statement, each of which also cost
        the writer thread a wake-up and a wait for the GIL behind the event loop.
        The order, and so the result, is that of the statements run one by one.
        """
        conn = session.connection()
        dialect = conn.dialect
        upsert, constants = self._pg_upsert(dialect)
        # (statement, parameters, what its row count adds to ("" nothing), prepare).
        # Only the lock and the upsert are prepared (psycopg's default: from the fifth
        # use): a generic plan made while the table was small (a new database) would
        # stay a sequential scan once it has grown, where each custom plan of a close
        # sees the table's current size and uses the index.
        steps: list[tuple[str, dict[str, Any], str, bool | None]] = [
            (_PG_LOCK, {"key": _WRITER_LOCK}, "", None)
        ]
        applied = 0
        for per_session, on_off in _segments(records):
            retire = _reused_starts(per_session)
            if retire:
                keys = sorted(retire)
                steps.append(
                    (
                        _PG_RETIRE,
                        {"now": now, "keys": keys, "ats": [retire[k] for k in keys]},
                        "",
                        False,
                    )
                )
            updates = merge(per_session)
            if updates:
                rows = json.dumps([_row(u, now) for u in updates], default=_iso)
                steps.append((upsert, {**constants, "rows": rows}, "changed", None))
                replaced = _replace_params(updates, now)
                if replaced is not None:
                    steps.append((_PG_REPLACE, replaced, "closed", False))
                applied += len(updates)
            if on_off is not None:
                compiled = _close_nas_statement(on_off, now).compile(dialect=dialect)
                steps.append((compiled.string, dict(compiled.params), "closed", False))
                applied += 1
        raw = conn.connection.driver_connection
        counts = {"changed": 0, "closed": 0, "": 0}

        def run() -> None:
            cursors = []
            with raw.pipeline():  # type: ignore[union-attr]
                for statement, params, counted, prepare in steps:
                    cursor = raw.cursor()  # type: ignore[union-attr]
                    cursor.execute(statement, params, prepare=prepare)
                    cursors.append((cursor, counted))
                raw.commit()  # type: ignore[union-attr]
            for cursor, counted in cursors:
                counts[counted] += max(cursor.rowcount, 0)

        guard_driver(conn, raw, run)
        # Committed on the driver connection; SQLAlchemy's commit only ends its own
        # bookkeeping (psycopg sends nothing when no transaction is open).
        session.commit()
        return WriteResult(
            records=applied, sessions_closed=counts["closed"], sessions_changed=counts["changed"]
        )

    @staticmethod
    def _retire_reused(conn: Any, records: list[AccountingRecord], now: datetime) -> int:
        """Give closed sessions whose Acct-Session-Id a later Start reuses a key of their own.

        hostapd hands a device that signs in again within seconds of a Stop the same
        Acct-Session-Id, so the new session has the old one's unique key. A Start heard
        after the closed row's last news (our clock, which a retransmission or a spool
        replay of the old Start cannot pass) starts a new row; the old row keeps its data
        under ``~<id>``, which no real key (hex) can equal.

        Known gap: a spool batch holding the old Start, its Stop and the reusing
        Start, replayed a second time (a crash between commit and spool truncation),
        merges the old Start into the new row, whose start then moves back to the old one.
        """
        starts = _reused_starts(records)
        if not starts:
            return 0
        c = _TABLE.c
        found = conn.execute(
            select(c.id, c.unique_key, c.updated_at).where(
                c.unique_key.in_(sorted(starts)), c.stopped_at.is_not(None)
            )
        ).all()
        retired = 0
        for row_id, key, updated_at in found:
            if as_utc(updated_at) < starts[key]:
                conn.execute(
                    update(_TABLE)
                    .where(c.id == row_id)
                    .values(unique_key=f"~{row_id}", changed_at=now)
                )
                retired += 1
        return retired

    @staticmethod
    def _close_replaced(conn: Any, updates: list[SessionUpdate], now: datetime) -> int:
        """SQLite: one indexed UPDATE per Start (PostgreSQL: ``_PG_REPLACE`` in the pipeline)."""
        params = _replace_params(updates, now)
        if params is None:
            return 0
        closed = 0
        for client, station, key, at in zip(
            params["clients"], params["stations"], params["keys"], params["ats"], strict=True
        ):
            values = {
                "b_client": client,
                "b_station": station,
                "b_key": key,
                "b_at": at,
                "b_now": now,
            }
            closed += conn.execute(_SQLITE_REPLACE, values).rowcount or 0
        return closed

    @staticmethod
    def _close_nas(conn: Any, record: AccountingRecord, now: datetime) -> int:
        """Accounting-On/Off: the NAS restarted, so its sessions heard before then are over."""
        return int(conn.execute(_close_nas_statement(record, now)).rowcount or 0)

    def close_stale(self, now: float, silent_for: float) -> list[SessionRecord]:
        """Close open sessions with no accounting for ``silent_for`` seconds; return them.

        Their ``stopped_at`` is the last time the NAS spoke of them: the session
        ended somewhere after that, and that is the last moment we know it was on.
        """
        when = _when(now)
        c = _TABLE.c
        stmt = (
            update(_TABLE)
            .where(c.stopped_at.is_(None), c.updated_at <= when - timedelta(seconds=silent_for))
            .values(stopped_at=c.updated_at, close_reason=CLOSE_STALE, changed_at=when)
            .returning(*_TABLE.c)
        )
        with self.sessions() as session:
            _begin(session)
            rows = [to_record(row) for row in session.connection().execute(stmt)]
            session.commit()
        return sorted(rows, key=lambda r: r.id)

    def close(self, session_id: int, now: float, reason: str) -> bool:
        """Close one open session (``reason``: disconnect, ...); False if it was not open."""
        if reason not in CLOSE_REASONS:
            raise InvalidValue(f"unknown close reason: {reason!r}")
        when = _when(now)
        c = _TABLE.c
        stmt = (
            update(_TABLE)
            .where(c.id == session_id, c.stopped_at.is_(None))
            .values(stopped_at=when, close_reason=reason, changed_at=when)
        )
        with self.sessions() as session:
            _begin(session)
            count = session.connection().execute(stmt).rowcount
            session.commit()
        return count == 1

    def prune(self, now: float, retention_seconds: float) -> int:
        """Delete sessions closed more than ``retention_seconds`` ago; return how many."""
        cutoff = _when(now) - timedelta(seconds=retention_seconds)
        c = _TABLE.c
        stmt = delete(_TABLE).where(c.stopped_at.is_not(None), c.stopped_at < cutoff)
        with self.sessions() as session:
            _begin(session)
            count = session.connection().execute(stmt).rowcount
            session.commit()
        return int(count or 0)

    def changed_since(self, since: datetime, limit: int = 10000) -> list[SessionRecord]:
        """Sessions whose row changed at or after ``since``, oldest change first."""
        c = _TABLE.c
        stmt = (
            select(_TABLE)
            .where(c.changed_at >= since.astimezone(UTC))
            .order_by(c.changed_at, c.id)
            .limit(limit)
        )
        return self._select(stmt)

    def open_sessions(self, member_email: str) -> list[SessionRecord]:
        """The member's open sessions."""
        c = _TABLE.c
        stmt = (
            select(_TABLE)
            .where(c.member_email == member_email, c.stopped_at.is_(None))
            .order_by(c.started_at, c.id)
        )
        return self._select(stmt)

    def find(
        self,
        *,
        online: bool = False,
        member_email: str | None = None,
        client_name: str | None = None,
        limit: int = 1000,
        before: tuple[datetime, int] | None = None,
    ) -> list[SessionRecord]:
        """Sessions, newest first, filtered; ``before`` (started_at, id): only older ones."""
        c = _TABLE.c
        stmt = select(_TABLE).order_by(c.started_at.desc(), c.id.desc()).limit(limit)
        if before is not None:
            # Keyset on the sort key itself: the next page, however many rows came since.
            at, last_id = before
            stmt = stmt.where(or_(c.started_at < at, and_(c.started_at == at, c.id < last_id)))
        if online:
            stmt = stmt.where(c.stopped_at.is_(None))
        if member_email is not None:
            stmt = stmt.where(c.member_email == member_email)
        if client_name is not None:
            stmt = stmt.where(c.client_name == client_name)
        return self._select(stmt)

    def get(self, session_id: int) -> SessionRecord:
        """One session; SessionNotFound (a StoreError) when there is none."""
        found = self._select(select(_TABLE).where(_TABLE.c.id == session_id))
        if not found:
            raise SessionNotFound(f"no session with id {session_id}")
        return found[0]

    def _select(self, stmt: Any) -> list[SessionRecord]:
        with self.sessions() as session:
            return [to_record(row) for row in session.connection().execute(stmt)]
