"""Database side of guessing protection: append events, follow others', load history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.throttle import EventKind, ThrottleEvent
from radius_server.store.models import ThrottleEventRow


def _from_row(row: Any) -> ThrottleEvent:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return ThrottleEvent(
        kind=EventKind(row.kind),
        at=at.timestamp(),
        user=row.user_key,
        device=row.device,
        known=row.known,
        fingerprint=bytes.fromhex(row.fingerprint) if row.fingerprint else None,
        location=row.location,
        key_id=row.key_id,
    )


# Events kept as long as a device stays known (not only a failure window).
_DEVICE_KINDS = (EventKind.SUCCESS.value, EventKind.FORGET.value)

# Called with an event the database refused and the reason (the error's type).
OnReject = Callable[[ThrottleEvent, str], None]


class AppendInterrupted(Exception):
    """The database went away part-way through a row-by-row append."""

    def __init__(self, written: list[int], remaining: list[ThrottleEvent]) -> None:
        super().__init__(f"{len(remaining)} throttle events not written")
        self.written = written
        self.remaining = remaining


def _is_outage(exc: BaseException) -> bool:
    """A lost or refused connection (retry later), as opposed to a row the database refuses."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    return list(session.scalars(insert(ThrottleEventRow).returning(ThrottleEventRow.seq), rows))


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# PostgreSQL: a batch travels as one jsonb parameter (an array of arrays, the fields in
# this order), like the decisions writer's (store/decisions.py): the driver adapts one
# value instead of nine per row and SQLAlchemy builds no per-row parameter dict, which
# made the ORM's executemany-with-RETURNING cost ~25 us of server CPU per PAP request
# under load (bench/README.md, "Outside the main thread"). The columns' own types still
# check every value (a fingerprint too long for varchar(32) refuses the batch as before).
_PG_APPEND = text(
    """
    INSERT INTO throttle_events (at, kind, user_key, device, known, fingerprint,
                                 location, key_id, instance)
    SELECT to_timestamp((e->>0)::float8), e->>1, e->>2, e->>3, (e->>4)::boolean, e->>5,
           e->>6, e->>7, :instance
    FROM jsonb_array_elements(CAST(:events AS jsonb)) AS e
    RETURNING seq
    """
)


def _fields(e: ThrottleEvent) -> tuple[Any, ...]:
    """One event's column values, bounded to the columns, in _PG_APPEND's order (``at``
    as epoch seconds): the JSON array of the PostgreSQL batch and ``ThrottleLog._row``."""
    return (
        e.at,
        e.kind.value,
        e.user[:254],
        e.device[:64] if e.device else None,
        bool(e.known),
        e.fingerprint.hex() if e.fingerprint else None,
        e.location[:64] if e.location else None,
        e.key_id,
    )


class ThrottleLog:
    """Shared throttle events. Every method is one short transaction."""

    def __init__(self, sessions: sessionmaker[Session], instance: str) -> None:
        self._sessions = sessions
        self.instance = instance

    def _row(self, e: ThrottleEvent) -> dict[str, Any]:
        at, kind, user_key, device, known, fingerprint, location, key_id = _fields(e)
        return {
            "at": _when(at),
            "kind": kind,
            "user_key": user_key,
            "device": device,
            "known": known,
            "fingerprint": fingerprint,
            "location": location,
            "key_id": key_id,
            "instance": self.instance,
        }

    def _insert(self, rows: list[dict[str, Any]]) -> list[int]:
        with self._sessions() as session:
            seqs = _insert_rows(session, rows)
            session.commit()
            return seqs

    def _insert_batch(self, events: Sequence[ThrottleEvent]) -> list[int]:
        """Write a batch in one statement: one jsonb parameter on PostgreSQL, else rows."""
        with self._sessions() as session:
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                payload = json.dumps([_fields(e) for e in events])
                params = {"events": payload, "instance": self.instance}
                seqs = list(connection.execute(_PG_APPEND, params).scalars())
            else:
                seqs = _insert_rows(session, [self._row(e) for e in events])
            session.commit()
            return seqs

    def add(self, session: Session, events: Sequence[ThrottleEvent]) -> list[int]:
        """Write ``events`` inside the caller's transaction (the caller commits).

        For admin actions, whose audit row must land in the same transaction.
        """
        return _insert_rows(session, [self._row(e) for e in events]) if events else []

    def append(
        self, events: Sequence[ThrottleEvent], on_reject: OnReject | None = None
    ) -> list[int]:
        """Write this instance's events in one batch; return their sequence numbers.

        When the database refuses the batch for what is in it (not for being
        unreachable), the events are written one by one and each refused one is
        dropped and handed to ``on_reject``: one bad event must never hold back
        the others, or sharing stops for good. An outage raises (the caller
        keeps the events); part-way through the row-by-row pass it raises
        AppendInterrupted with what was written and what was not.
        """
        if not events:
            return []
        try:
            return self._insert_batch(events)
        except Exception as exc:
            if _is_outage(exc):
                raise
        seqs: list[int] = []
        for index, event in enumerate(events):
            try:
                seqs += self._insert([self._row(event)])
            except Exception as exc:
                if _is_outage(exc):
                    raise AppendInterrupted(seqs, list(events[index:])) from exc
                if on_reject is not None:
                    on_reject(event, type(getattr(exc, "orig", None) or exc).__name__)
        return seqs

    def position(self) -> int:
        """The newest sequence number."""
        with self._sessions() as session:
            return session.scalar(select(func.max(ThrottleEventRow.seq))) or 0

    def history(self, failures_since: float, successes_since: float) -> list[ThrottleEvent]:
        """Events still relevant at start-up: recent failures and clears, device successes."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ThrottleEventRow)
                .where(
                    or_(
                        ThrottleEventRow.at >= _when(failures_since),
                        ThrottleEventRow.kind.in_(_DEVICE_KINDS)
                        & (ThrottleEventRow.at >= _when(successes_since)),
                    )
                )
                .order_by(ThrottleEventRow.seq)
            )
            return [_from_row(r) for r in rows]

    def after(self, seq: int, limit: int = 10_000) -> list[tuple[int, ThrottleEvent]]:
        """Other instances' events (and admin clears) after ``seq``, oldest first.

        Our own rows are filtered out in SQL: their numbers come back from append().
        """
        t = ThrottleEventRow
        with self._sessions() as session:
            rows = session.execute(
                select(
                    t.seq,
                    t.at,
                    t.kind,
                    t.user_key,
                    t.device,
                    t.known,
                    t.fingerprint,
                    t.location,
                    t.key_id,
                )
                .where(t.seq > seq, t.instance != self.instance)
                .order_by(t.seq)
                .limit(limit)
            ).all()
        return [(r.seq, _from_row(r)) for r in rows]

    def prune(self, failures_before: float, successes_before: float) -> int:
        """Forget what no budget can still count."""
        with self._sessions() as session:
            newest = session.scalar(select(func.max(ThrottleEventRow.seq))) or 0
            # Keep the newest row whatever its age: it marks the feed position.
            result = session.execute(
                delete(ThrottleEventRow).where(
                    ThrottleEventRow.seq < newest,
                    or_(
                        ThrottleEventRow.kind.not_in(_DEVICE_KINDS)
                        & (ThrottleEventRow.at < _when(failures_before)),
                        ThrottleEventRow.at < _when(successes_before),
                    ),
                )
            )
            session.commit()
            return int(result.rowcount or 0)
