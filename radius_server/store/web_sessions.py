"""Server-side browser sessions of the web pages (staff and members).

The cookie holds a random id (32 bytes); the table holds its SHA-256, so a copy
of the database signs nobody in. A session ends at ``expires_at`` (absolute) or
after ``idle`` without a request; signing out deletes the row, so the cookie is
dead everywhere at once. ``last_seen_at`` is written at most once a minute per
session: a page view is not a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.journal import utcnow
from radius_server.store.models import WebSession
from radius_server.store.records import as_utc

STAFF = "staff"
MEMBER = "member"
KINDS = (STAFF, MEMBER)
_MAX_ID = 200
_TOUCH_INTERVAL = timedelta(seconds=60)


def hash_session_id(session_id: str) -> str:
    """The stored form of a session id (hex SHA-256)."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A signed-in browser; ``repr`` hides the CSRF secret."""

    id: int
    kind: str
    subject_id: int
    subject_email: str
    csrf_secret: str = field(repr=False)
    created_at: datetime | None
    expires_at: datetime | None
    last_seen_at: datetime | None

    def alive(self, now: datetime, idle: timedelta) -> bool:
        """Neither past its absolute end nor idle for longer than ``idle``."""
        if self.expires_at is None or now >= self.expires_at:
            return False
        return self.last_seen_at is not None and now - self.last_seen_at < idle


def _record(row: WebSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        kind=row.kind,
        subject_id=row.subject_id,
        subject_email=row.subject_email,
        csrf_secret=row.csrf_secret,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        last_seen_at=as_utc(row.last_seen_at),
    )


def open_in(
    session: Session, kind: str, subject_id: int, email: str, lifetime: timedelta
) -> tuple[SessionRecord, str]:
    """A new session in the caller's transaction: its record and the id for the cookie."""
    if kind not in KINDS:
        raise ValueError(f"unknown session kind {kind!r}")
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        session_hash=hash_session_id(session_id),
        kind=kind,
        subject_id=subject_id,
        subject_email=email,
        csrf_secret=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return _record(row), session_id


def close_all_in(session: Session, kind: str, subject_id: int) -> int:
    """End every session of one staff member or member (password set, disabled, removed)."""
    done = session.execute(
        delete(WebSession).where(WebSession.kind == kind, WebSession.subject_id == subject_id)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


class WebSessionRepository:
    """Sessions in one database. Opening and closing are audited by their callers."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def find(self, session_id: str, idle: timedelta) -> SessionRecord | None:
        """The live session ``session_id`` names, else None (an ended one is deleted)."""
        if not session_id or len(session_id) > _MAX_ID:
            return None
        digest = hash_session_id(session_id)
        now = utcnow()
        with self._sessions() as session:
            row = session.scalar(select(WebSession).where(WebSession.session_hash == digest))
            if row is None:
                return None
            record = _record(row)
            if not record.alive(now, idle):
                session.execute(delete(WebSession).where(WebSession.id == row.id))
                session.commit()
                return None
            if record.last_seen_at is None or now - record.last_seen_at >= _TOUCH_INTERVAL:
                session.execute(
                    update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now)
                )
                session.commit()
            return record

    def close(self, session_id: str) -> SessionRecord | None:
        """Delete the session ``session_id`` names (sign-out); its record, or None."""
        if not session_id or len(session_id) > _MAX_ID:
            return None
        digest = hash_session_id(session_id)
        with self._sessions() as session:
            row = session.scalar(select(WebSession).where(WebSession.session_hash == digest))
            if row is None:
                return None
            record = _record(row)
            session.execute(delete(WebSession).where(WebSession.id == row.id))
            session.commit()
            return record

    def purge(self, idle: timedelta) -> int:
        """Delete sessions past their end or idle for longer than ``idle``; how many went."""
        now = utcnow()
        with self._sessions() as session:
            done = session.execute(
                delete(WebSession).where(
                    or_(WebSession.expires_at <= now, WebSession.last_seen_at <= now - idle)
                )
            )
            session.commit()
            return int(done.rowcount or 0)  # type: ignore[attr-defined]
