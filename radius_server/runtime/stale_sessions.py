"""Closes sessions the NAS stopped reporting, and prunes old closed ones, off the hot path.

A NAS that reboots without Accounting-On, or a Stop lost for good, leaves a
session open for ever; it would count against the member's device limit. Every
accept asks for an interim update every ``acct_interim_interval`` seconds (RFC
2869 5.16), so a session silent for two intervals plus ``session_stale_grace``
has ended: ``SessionStore.close_stale`` closes it (``close_reason`` stale,
stopped at its last update). Closed sessions older than
``session_retention_days`` are deleted.

Every instance runs this loop. That is harmless: closing is one UPDATE of the
rows still open, so concurrent runs close each session once (each logs only
what it closed), and pruning deletes what is already gone at most once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from radius_server.runtime.bounded import BoundedCalls, describe_error, repeat_until_stopped
from radius_server.store.records import SessionRecord, iso

# Seconds between rounds.
INTERVAL_SECONDS = 60.0


class StaleSource(Protocol):
    """What the loop needs of store/sessions.SessionStore."""

    def close_stale(self, now: float, silent_for: float) -> list[SessionRecord]:
        """Close open sessions with no accounting for ``silent_for`` seconds; return them."""
        ...

    def prune(self, now: float, retention_seconds: float) -> int:
        """Delete sessions closed more than ``retention_seconds`` ago; return how many."""
        ...


def stale_after(acct_interim_interval: float, session_stale_grace: float) -> float:
    """Seconds without accounting after which a session is stale (settings of the same names)."""
    return 2 * acct_interim_interval + session_stale_grace


class SessionUpkeep:
    """The stale-session and pruning loop."""

    def __init__(
        self,
        store: StaleSource,
        log: Any,
        *,
        silent_for: float,
        retention_seconds: float,
        interval: float = INTERVAL_SECONDS,
        deadline: float = 6.0,
        on_closed: Callable[[list[SessionRecord]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.log = log
        self.silent_for = silent_for
        self.retention_seconds = retention_seconds
        self.interval = interval
        # Told about every session this loop closed (the online view), on the loop.
        self.on_closed = on_closed
        self.clock = clock
        self.calls = BoundedCalls("session-upkeep", deadline)
        self.failing = False
        self._stopping = asyncio.Event()

    async def run_once(self) -> None:
        """Close stale sessions, then prune; a failure is logged once and retried next round."""
        try:
            closed = await self.calls.run(self.store.close_stale, self.clock(), self.silent_for)
            for session in closed:
                self.log.info(
                    "session_stale_closed",
                    user=session.member_email or session.user_name,
                    nas=session.client_name,
                    session_id=session.acct_session_id[:64],
                    last_update=iso(session.updated_at),
                    id=session.id,
                )
            if closed and self.on_closed is not None:
                self.on_closed(closed)
            pruned = await self.calls.run(self.store.prune, self.clock(), self.retention_seconds)
            if pruned:
                self.log.info("sessions_pruned", count=pruned)
        except Exception as exc:  # the database is away: the next round tries again
            if not self.failing:
                self.failing = True
                self.log.warning(
                    "session_upkeep_failed", error=type(exc).__name__, detail=describe_error(exc)
                )
            return
        if self.failing:
            self.failing = False
            self.log.info("session_upkeep_recovered")

    async def run(self) -> None:
        """Run a round every ``interval`` seconds until stop() is called."""
        await repeat_until_stopped(self.run_once, self._stopping, self.interval)

    def stop(self) -> None:
        """Ask run() to return."""
        self._stopping.set()
