"""Disconnect jobs (RFC 5176): a queue of members whose sessions must end.

A job is written in the same transaction as the change that calls for it (a PIN
changed, a member disabled, removed, refused Wi-Fi, past the end of their
validity, or an admin's request), so a change that commits always gets its
Disconnect-Requests and one that rolls back never does. Every server instance
polls the queue (``has_work``, one indexed read) and ``claim``\\ s jobs; exactly
one instance gets each: on PostgreSQL the claim locks the rows it takes with
``FOR UPDATE SKIP LOCKED`` (a second claimer skips them instead of waiting, then
sees them claimed), on SQLite the single UPDATE holds the one write lock. A job
claimed by an instance that died is claimable again after a lease.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.database import begin_write
from radius_server.store.errors import InvalidValue, NotFound, SessionNotFound
from radius_server.store.journal import audit, utcnow
from radius_server.store.models import AccountingSession, Customer, DisconnectJob
from radius_server.store.records import as_utc, iso

# Why a job exists (the ``reason`` column).
PIN_CHANGED = "pin_changed"
DISABLED = "disabled"
REMOVED = "removed"
WIFI_REVOKED = "wifi_revoked"
VALIDITY_ENDED = "validity_ended"
ADMIN = "admin"
# The member's plan changed (edited or reassigned): sessions get a CoA-Request with the
# new attributes where the NAS takes them, else a Disconnect-Request.
PLAN_CHANGED = "plan_changed"
REASONS = frozenset(
    {PIN_CHANGED, DISABLED, REMOVED, WIFI_REVOKED, VALIDITY_ENDED, ADMIN, PLAN_CHANGED}
)

# A claimed job not completed within this many seconds is claimable again: its
# instance died (or lost the database). Far above what a job takes: the sender
# gives up on a NAS after the sum of disconnect_timeouts (7 s by default).
LEASE_SECONDS = 60.0
# Jobs one claim takes at most.
CLAIM_BATCH = 16
# Jobs of members with no open session completed per statement (see settle_idle).
SETTLE_BATCH = 1000
# Who enqueues jobs nobody asked for (the validity check).
SYSTEM_ACTOR = "system"
# Any number: two instances checking validity at once take turns on this lock
# (PostgreSQL), so they never queue the same member twice.
_VALIDITY_LOCK_KEY = 0x52534443  # "RSDC"
# The counts a runner writes into ``result`` ("acked=1 nak=0 ..."), in this order.
RESULT_KEYS = ("acked", "nak", "timeout", "unsupported", "error")
# A plan_changed job's CoA-Requests, after those (see format_result).
COA_RESULT_KEYS = ("coa_acked", "coa_nak", "coa_timeout", "coa_error")


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class DisconnectJobRecord:
    """One job as the rest of the program sees it."""

    id: int
    member_email: str | None
    session_id: int | None
    reason: str
    requested_by: str
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    done_at: datetime | None
    result: str | None

    @property
    def done(self) -> bool:
        """Completed by some instance."""
        return self.done_at is not None

    def counts(self) -> dict[str, int]:
        """The result line as numbers (``{"acked": 1, ...}``); empty until done."""
        return parse_result(self.result)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "id": self.id,
            "member_email": self.member_email,
            "session_id": self.session_id,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "created_at": iso(self.created_at),
            "claimed_by": self.claimed_by,
            "claimed_at": iso(self.claimed_at),
            "done_at": iso(self.done_at),
            "result": self.result,
            **self.counts(),
        }


def format_result(counts: Mapping[str, int]) -> str:
    """``acked=1 nak=0 timeout=0 unsupported=0 error=0``: what ``complete`` stores.

    The CoA counts (``coa_acked=1 ...``) follow when ``counts`` has any of them,
    zero included: a plan_changed job's line has them, other jobs' lines do not.
    """
    keys = RESULT_KEYS
    if any(key in counts for key in COA_RESULT_KEYS):
        keys = RESULT_KEYS + COA_RESULT_KEYS
    return " ".join(f"{key}={int(counts.get(key, 0))}" for key in keys)


def parse_result(result: str | None) -> dict[str, int]:
    """The counts in a result line; unknown words are ignored."""
    counts: dict[str, int] = {}
    for word in (result or "").split():
        key, sep, value = word.partition("=")
        if sep and (key in RESULT_KEYS or key in COA_RESULT_KEYS) and value.isdigit():
            counts[key] = int(value)
    return counts


def to_record(row: Any) -> DisconnectJobRecord:
    """ORM row (or a RETURNING row with the same names) to plain value."""
    created = as_utc(row.created_at)
    assert created is not None
    return DisconnectJobRecord(
        id=row.id,
        member_email=row.member_email,
        session_id=row.session_id,
        reason=row.reason,
        requested_by=row.requested_by,
        created_at=created,
        claimed_by=row.claimed_by,
        claimed_at=as_utc(row.claimed_at),
        done_at=as_utc(row.done_at),
        result=row.result,
    )


@dataclass(frozen=True, slots=True)
class AccessState:
    """What decides whether a member may stay online, before and after a change."""

    active: bool
    wifi_access: bool
    valid_until: datetime | None

    @classmethod
    def of(cls, row: Customer) -> AccessState:
        """The state of a customer row as it is now (in the session, not yet flushed)."""
        return cls(bool(row.active), bool(row.wifi_access), as_utc(row.valid_until))

    def ended_by(self, now: datetime) -> bool:
        """True when the validity window is over at ``now`` (valid-until is exclusive)."""
        return self.valid_until is not None and self.valid_until <= now


def lost_access(before: AccessState, after: AccessState, now: datetime) -> str | None:
    """The reason to disconnect a member whose state went from ``before`` to ``after``.

    Only a change that takes something away counts (disabling a disabled member
    changes nothing); the first that applies names the job.
    """
    if before.active and not after.active:
        return DISABLED
    if before.wifi_access and not after.wifi_access:
        return WIFI_REVOKED
    if after.ended_by(now) and not before.ended_by(now):
        return VALIDITY_ENDED
    return None


def enqueue(
    session: Session,
    member_email: str,
    reason: str,
    requested_by: str,
    *,
    session_id: int | None = None,
    now: datetime | None = None,
) -> DisconnectJob:
    """Add a job inside the caller's transaction (the caller commits, with its change)."""
    if reason not in REASONS:
        raise ValueError(f"unknown disconnect reason {reason!r}")
    job = DisconnectJob(
        member_email=member_email,
        session_id=session_id,
        reason=reason,
        requested_by=requested_by[:200],
        created_at=now or utcnow(),
    )
    session.add(job)
    return job


def enqueue_many(
    session: Session, jobs: Iterable[tuple[str, str]], requested_by: str, *, now: datetime
) -> int:
    """Add one job per (member email, reason) in one executemany (a bulk upsert's); how many.

    As :func:`enqueue`, inside the caller's transaction; no ORM object each, so
    thousands of members disabled at once cost a few round trips.
    """
    rows = []
    for email, reason in jobs:
        if reason not in REASONS:
            raise ValueError(f"unknown disconnect reason {reason!r}")
        rows.append(
            {
                "member_email": email,
                "session_id": None,
                "reason": reason,
                "requested_by": requested_by[:200],
                "created_at": now,
            }
        )
    if rows:
        session.execute(insert(DisconnectJob), rows)
    return len(rows)


def has_open_session(session: Session, email: str) -> bool:
    """Whether the member ``email`` (normalised) has a session online."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    AccountingSession.member_email == email,
                    AccountingSession.stopped_at.is_(None),
                )
            )
        )
    )


class DisconnectQueue:
    """The queue as one server instance works it. Every method is one short transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], instance: str, lease: float = LEASE_SECONDS
    ) -> None:
        self._sessions = sessions
        self.instance = instance[:64]
        self.lease = lease

    def _claimable(self, now: float) -> Any:
        cutoff = _when(now - self.lease)
        return DisconnectJob.done_at.is_(None) & (
            DisconnectJob.claimed_at.is_(None) | (DisconnectJob.claimed_at < cutoff)
        )

    def has_work(self, now: float) -> bool:
        """Whether a job waits to be claimed: the poll every instance makes, kept cheap.

        The ``done_at`` index leaves only unfinished jobs to look at (a handful).
        """
        query = select(DisconnectJob.id).where(self._claimable(now)).limit(1)
        with self._sessions() as session:
            return session.scalar(query) is not None

    def claim(self, now: float, limit: int = CLAIM_BATCH) -> list[DisconnectJobRecord]:
        """Take up to ``limit`` claimable jobs, oldest first; no other instance gets them."""
        return self._take(now, limit, (), {})

    def settle_idle(self, now: float, limit: int = SETTLE_BATCH) -> list[DisconnectJobRecord]:
        """Complete, in one statement, claimable member jobs whose member has no open session.

        A bulk change (a CSV import of new PINs) queues a job per member, and most
        members are not online: working each alone would cost several round trips
        apiece. Claimed and completed at once (``acked=0 ...``), picked like ``claim``,
        so no other instance works them too.
        """
        online = (
            select(AccountingSession.id)
            .where(
                AccountingSession.member_email == DisconnectJob.member_email,
                AccountingSession.stopped_at.is_(None),
            )
            .exists()
        )
        done = {"done_at": _when(now), "result": format_result({})}
        return self._take(now, limit, (DisconnectJob.session_id.is_(None), ~online), done)

    def _take(
        self, now: float, limit: int, conditions: tuple[Any, ...], values: dict[str, Any]
    ) -> list[DisconnectJobRecord]:
        """Claim up to ``limit`` claimable jobs meeting ``conditions``, setting ``values`` too.

        One statement: the sub-select locks the rows it picks and skips rows another
        claimer holds (PostgreSQL; SQLite has no row locks and needs none, a writer
        is alone), and the outer UPDATE checks again that each is still claimable,
        so a row claimed and committed meanwhile is never taken twice.
        """
        claimable = self._claimable(now)
        # MATERIALIZED: the pick runs once. Inlined into the UPDATE, PostgreSQL may
        # run it again part-way (a rescan), and LIMIT with SKIP LOCKED then picks
        # more rows than asked for.
        picked = (
            select(DisconnectJob.id)
            .where(claimable, *conditions)
            .order_by(DisconnectJob.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        statement = (
            update(DisconnectJob)
            .where(DisconnectJob.id.in_(select(picked.c.id)), claimable)
            .values(claimed_by=self.instance, claimed_at=_when(now), **values)
            .returning(*DisconnectJob.__table__.columns)
            .execution_options(synchronize_session=False)
        )
        with self._sessions() as session:
            rows = list(session.execute(statement))
            session.commit()
        return sorted((to_record(r) for r in rows), key=lambda r: r.id)

    def complete(self, job_id: int, now: float, result: str) -> bool:
        """Mark a job done with its result line; False if it was done already."""
        statement = (
            update(DisconnectJob)
            .where(DisconnectJob.id == job_id, DisconnectJob.done_at.is_(None))
            .values(done_at=_when(now), result=result[:200])
            .execution_options(synchronize_session=False)
        )
        with self._sessions() as session:
            changed = session.execute(statement).rowcount
            session.commit()
        return bool(changed)

    def enqueue_validity_ended(self, now: float) -> list[str]:
        """Queue ``validity_ended`` jobs for members past valid-until with sessions still open.

        Driven from the open sessions (an index on ``stopped_at``), joined to
        their member: cheap however many members there are. A member gets one such
        job per end of validity (none if one was queued since valid-until passed),
        so a NAS that cannot be reached is not asked again every round. Returns the
        members queued.
        """
        at = _when(now)
        already = (
            select(DisconnectJob.id)
            .where(
                DisconnectJob.member_email == Customer.email,
                DisconnectJob.reason == VALIDITY_ENDED,
                DisconnectJob.created_at >= Customer.valid_until,
            )
            .exists()
        )
        due = (
            select(Customer.email)
            .join(AccountingSession, AccountingSession.member_email == Customer.email)
            .where(
                AccountingSession.stopped_at.is_(None),
                Customer.valid_until.is_not(None),
                Customer.valid_until <= at,
                ~already,
            )
            .distinct()
        )
        with self._sessions() as session:
            # Another instance checking right now would see the same members before
            # either commits: take turns. PostgreSQL: an advisory lock released at
            # commit (busy: the other one is doing it); SQLite: the write lock, first.
            if session.get_bind().dialect.name == "postgresql":
                locked = session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _VALIDITY_LOCK_KEY}
                )
                if not locked:
                    return []
            else:
                begin_write(session)
            emails = sorted(session.scalars(due))
            for email in emails:
                enqueue(session, email, VALIDITY_ENDED, SYSTEM_ACTOR, now=at)
            session.commit()
        return emails

    def prune(self, before: float) -> int:
        """Delete jobs completed before ``before``; return how many."""
        statement = (
            delete(DisconnectJob)
            .where(DisconnectJob.done_at < _when(before))
            .execution_options(synchronize_session=False)
        )
        with self._sessions() as session:
            removed = session.execute(statement).rowcount
            session.commit()
        return int(removed or 0)


class DisconnectRequests:
    """An admin's side of the queue: ask for a disconnect, then look at the job."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = SYSTEM_ACTOR) -> None:
        self._sessions = sessions
        self.actor = actor

    def request_member(self, email: str) -> DisconnectJobRecord:
        """Queue a job ending every open session of ``email`` (reason admin), audited.

        Raises NotFound when the member has no open session: there is nothing to end.
        """
        address = email.strip().lower()
        with self._sessions() as session:
            if not has_open_session(session, address):
                raise NotFound(f"no open session of {address}")
            job = enqueue(session, address, ADMIN, self.actor)
            session.flush()
            audit(session, self.actor, "session.disconnect", address, job=job.id)
            session.commit()
            return to_record(job)

    def request_session(self, session_id: int) -> DisconnectJobRecord:
        """Queue a job ending one session (reason admin), audited.

        Raises NotFound for no such session, InvalidValue for one already closed.
        """
        with self._sessions() as session:
            row = session.get(AccountingSession, session_id)
            if row is None:
                raise SessionNotFound(f"no session with id {session_id}")
            if row.stopped_at is not None:
                raise InvalidValue(
                    f"session {session_id} is not open (closed {iso(as_utc(row.stopped_at))}"
                    f", {row.close_reason or 'stop'})"
                )
            email = row.member_email or row.user_name
            job = enqueue(session, email, ADMIN, self.actor, session_id=session_id)
            session.flush()
            audit(
                session, self.actor, "session.disconnect", email, job=job.id, session_id=session_id
            )
            session.commit()
            return to_record(job)

    def get(self, job_id: int) -> DisconnectJobRecord:
        """One job; NotFound when there is none (pruned, or never queued)."""
        with self._sessions() as session:
            row = session.get(DisconnectJob, job_id)
            if row is None:
                raise NotFound(f"no disconnect job {job_id}")
            return to_record(row)

    def pending(self) -> int:
        """Jobs not completed yet."""
        query = select(func.count(DisconnectJob.id)).where(DisconnectJob.done_at.is_(None))
        with self._sessions() as session:
            return int(session.scalar(query) or 0)
