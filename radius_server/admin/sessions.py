"""Accounting sessions for admins: who is on, from where, for how long (read-only).

Ending a session (RFC 5176 Disconnect-Request) is a separate operation: it
queues a disconnect job rather than changing the row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.customers import normalize_email
from radius_server.store.errors import InvalidValue
from radius_server.store.journal import utcnow
from radius_server.store.records import SessionRecord
from radius_server.store.sessions import SessionStore

MAX_LIST_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Which sessions ``list`` returns (newest first); None: no filter."""

    online: bool = False
    member_email: str | None = None
    client_name: str | None = None
    limit: int = 100
    # (started_at, id) of the last session of the previous page: only older ones.
    before: tuple[datetime, int] | None = None


@dataclass(frozen=True, slots=True)
class SessionList:
    """Sessions as of ``at`` (for durations of open ones); ``more``: the limit cut the list."""

    sessions: tuple[SessionRecord, ...]
    at: datetime
    more: bool


class SessionAdmin:
    """Session views; reading only, so nothing goes to the audit trail."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._store = SessionStore(sessions)
        self.actor = actor

    def list(self, query: SessionQuery) -> SessionList:
        """Sessions matching every filter, newest first, at most ``query.limit``."""
        if not 1 <= query.limit <= MAX_LIST_LIMIT:
            raise InvalidValue(f"the limit must be between 1 and {MAX_LIST_LIMIT}")
        email = None if query.member_email is None else normalize_email(query.member_email)
        nas = None if query.client_name is None else query.client_name.strip()
        # One more than asked, to tell the caller whether the limit cut the list.
        found = self._store.find(
            online=query.online,
            member_email=email,
            client_name=nas,
            limit=query.limit + 1,
            before=query.before,
        )
        return SessionList(tuple(found[: query.limit]), utcnow(), len(found) > query.limit)

    def get(self, session_id: int) -> SessionRecord:
        """One session (SessionNotFound names the id)."""
        return self._store.get(session_id)
