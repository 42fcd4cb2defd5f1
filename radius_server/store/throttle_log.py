"""Database side of guessing protection: append events, follow others', load history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.models import ThrottleEventRow
from radius_server.throttle import EventKind, ThrottleEvent


def _from_row(row: Any) -> ThrottleEvent:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return ThrottleEvent(
        kind=EventKind(row.kind),
        at=at.timestamp(),
        user=row.user_key,
        device=row.device,
        known=row.known,
        fingerprint=bytes.fromhex(row.fingerprint) if row.fingerprint else None,
    )


def _storable(text: str, size: int) -> str:
    """Wire text fit for the column: PostgreSQL refuses NUL, which would fail the
    whole batch on every retry and leave guessing protection unshared for good."""
    return text.replace("\x00", "\ufffd")[:size]


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class ThrottleLog:
    """Shared throttle events. Every method is one short transaction."""

    def __init__(self, sessions: sessionmaker[Session], instance: str) -> None:
        self._sessions = sessions
        self.instance = instance

    def append(self, events: Sequence[ThrottleEvent]) -> list[int]:
        """Write this instance's events in one batch; return their sequence numbers."""
        if not events:
            return []
        rows = [
            {
                "at": _when(e.at),
                "kind": e.kind.value,
                "user_key": _storable(e.user, 254),
                "device": _storable(e.device, 64) if e.device else None,
                "known": e.known,
                "fingerprint": e.fingerprint.hex() if e.fingerprint else None,
                "instance": self.instance,
            }
            for e in events
        ]
        with self._sessions() as session:
            seqs = list(
                session.scalars(insert(ThrottleEventRow).returning(ThrottleEventRow.seq), rows)
            )
            session.commit()
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
                        (ThrottleEventRow.kind == EventKind.SUCCESS.value)
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
                select(t.seq, t.at, t.kind, t.user_key, t.device, t.known, t.fingerprint)
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
                        (ThrottleEventRow.kind != EventKind.SUCCESS.value)
                        & (ThrottleEventRow.at < _when(failures_before)),
                        ThrottleEventRow.at < _when(successes_before),
                    ),
                )
            )
            session.commit()
            return int(result.rowcount or 0)
