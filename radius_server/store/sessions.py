"""Accounting sessions: merging accounting records into rows, closing, pruning, listing.

Interface skeleton (issue 12); see docs/architecture.md "Sessions".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.accounting import AccountingRecord
from radius_server.store.records import SessionRecord


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``SessionStore.write`` did."""

    records: int  # records applied (after merging duplicates of one session in the batch)
    sessions_closed: int  # by Accounting-On/Off or a new Start on the same station


class SessionStore:
    """The ``sessions`` table. Every method is one transaction; blocking (call from a thread)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def write(self, records: Sequence[AccountingRecord], now: float) -> WriteResult:
        """Apply ``records`` in order, in one transaction; idempotent (replays change nothing)."""
        raise NotImplementedError

    def close_stale(self, now: float, silent_for: float) -> list[SessionRecord]:
        """Close open sessions with no accounting for ``silent_for`` seconds; return them."""
        raise NotImplementedError

    def close(self, session_id: int, now: float, reason: str) -> bool:
        """Close one open session (``reason``: disconnect, ...); False if it was not open."""
        raise NotImplementedError

    def prune(self, now: float, retention_seconds: float) -> int:
        """Delete sessions closed more than ``retention_seconds`` ago; return how many."""
        raise NotImplementedError

    def changed_since(self, since: datetime, limit: int = 10000) -> list[SessionRecord]:
        """Sessions whose row changed at or after ``since``, oldest change first."""
        raise NotImplementedError

    def open_sessions(self, member_email: str) -> list[SessionRecord]:
        """The member's open sessions."""
        raise NotImplementedError

    def find(
        self,
        *,
        online: bool = False,
        member_email: str | None = None,
        client_name: str | None = None,
        limit: int = 1000,
    ) -> list[SessionRecord]:
        """Sessions, newest first, filtered."""
        raise NotImplementedError

    def get(self, session_id: int) -> SessionRecord:
        """One session; SessionNotFound (a StoreError) when there is none."""
        raise NotImplementedError
