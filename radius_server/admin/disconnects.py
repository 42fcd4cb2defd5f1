"""Disconnecting members by hand (RFC 5176): queue a job, wait for a server to send it.

The admin side never sends a packet: it queues a ``disconnect_jobs`` row (reason
``admin``, audited) that a running server claims and works within its poll
interval (runtime/disconnector.py), exactly like the jobs a PIN change queues.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.customers import normalize_email
from radius_server.store.disconnects import RESULT_KEYS, DisconnectJobRecord, DisconnectRequests

# How long ``disconnect`` waits for a server by default: the sender's retries
# (1 + 2 + 4 s by default) and a few polls.
DEFAULT_WAIT_SECONDS = 10.0
# How often the job is looked at while waiting.
_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class DisconnectResult:
    """A disconnect job and whether a server completed it within the wait."""

    job: DisconnectJobRecord
    completed: bool

    @property
    def all_acked(self) -> bool:
        """Completed, and every session it found was acknowledged by its NAS."""
        counts = self.job.counts()
        return self.completed and sum(counts.values()) == counts.get("acked", 0)


def describe(result: DisconnectResult, wait: float | None = None) -> str:
    """One line for people about how the job went (``wait``: how long its caller waited)."""
    job = result.job
    who = f"session {job.session_id}" if job.session_id is not None else job.member_email
    if not result.completed:
        within = f" within {wait:g} s" if wait is not None else " yet"
        where = (
            f"server {job.claimed_by} is still working on it"
            if job.claimed_by
            else "no server picked it up"
        )
        return (
            f"disconnect of {who} queued as job {job.id}; {where}{within} "
            "(it stays queued: a running server sends it)"
        )
    counts = job.counts()
    tally = ", ".join(f"{counts.get(key, 0)} {key}" for key in RESULT_KEYS)
    headline = f"disconnected {who}" if result.all_acked else f"disconnect of {who} done"
    return f"{headline}: {tally} (job {job.id}, by {job.claimed_by})"


class DisconnectAdmin:
    """Disconnect operations acting as ``actor``; each request is audited."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        actor: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._requests = DisconnectRequests(sessions, actor)
        self.actor = actor
        self._sleep = sleep
        self._clock = clock

    def request(self, target: str) -> DisconnectJobRecord:
        """Queue a disconnect of a session (its id) or of every open session of a member.

        Raises SessionNotFound (no such session), InvalidValue (the session is
        closed, or the target is neither an id nor an email), NotFound (the member
        has no open session).
        """
        text = target.strip()
        if text.isdigit():
            return self._requests.request_session(int(text))
        return self._requests.request_member(normalize_email(text))

    def job(self, job_id: int) -> DisconnectJobRecord:
        """One job as it is now."""
        return self._requests.get(job_id)

    def wait(self, job_id: int, seconds: float) -> DisconnectResult:
        """Look at the job until a server completed it or ``seconds`` passed."""
        deadline = self._clock() + max(0.0, seconds)
        while True:
            job = self._requests.get(job_id)
            if job.done or self._clock() >= deadline:
                return DisconnectResult(job, completed=job.done)
            self._sleep(min(_POLL_SECONDS, max(0.0, deadline - self._clock())))

    def disconnect(self, target: str, wait: float = DEFAULT_WAIT_SECONDS) -> DisconnectResult:
        """Queue a disconnect (see :meth:`request`) and wait up to ``wait`` seconds for it."""
        job = self.request(target)
        return self.wait(job.id, wait)
