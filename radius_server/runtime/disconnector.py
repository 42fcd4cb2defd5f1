"""Works the disconnect queue: RFC 5176 Disconnect-Requests for members who lost access.

Every ``interval`` seconds the queue is polled (one indexed read while it is
empty); jobs this instance manages to claim (no other instance gets them, see
store/disconnects.py) each run as their own task, so one unreachable access
point never holds back the next PIN change. A job loads the member's open
sessions and sends each one's NAS a Disconnect-Request at once, all in
parallel; the sender (runtime/dynauth.py) retransmits after each of
``disconnect_timeouts`` and logs ``disconnect_sent``, ``disconnect_acked``,
``disconnect_nak`` (with the Error-Cause), ``disconnect_timeout`` or
``disconnect_error``. An acknowledged session is closed (close reason
``disconnect``) without waiting for the NAS's Accounting-Stop; a session whose
NAS has no dynamic authorization port is logged ``disconnect_unsupported``.
Each job ends with one ``disconnect_job_done`` line and its counts in the
job's ``result``.

A ``plan_changed`` job (the member's plan edited or reassigned) first tries to
keep each session: where its NAS takes CoA-Requests (``nas --coa``), it sends one
with the new plan's attributes (runtime/plan_change.py) and logs ``coa_sent``,
then ``coa_acked`` (the session stays open), ``coa_nak`` (with the Error-Cause),
``coa_timeout`` or ``coa_error``; anything but an ACK falls back to a
Disconnect-Request, as does a NAS without the flag or a plan no longer valid
there, so the member signs in again under the new plan. Its result line adds
``coa_acked``, ``coa_nak``, ``coa_timeout`` and ``coa_error``.

Now and then the runner also queues ``validity_ended`` jobs for members whose
validity ran out while they were online, and prunes old completed jobs.
Database work happens in one worker thread (BoundedCalls), one call at a time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from radius_server.protocol import codes as c
from radius_server.protocol.dynauth import coa_attributes, session_attributes
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute
from radius_server.rules.directory import Client, Directory
from radius_server.rules.policy import SessionRules, session_rules
from radius_server.runtime.bounded import BoundedCalls, describe_error
from radius_server.runtime.listener import Wakeup, follow
from radius_server.runtime.plan_change import MemberPlan, PlanLoader, change_for
from radius_server.store.disconnects import (
    CLAIM_BATCH,
    COA_RESULT_KEYS,
    PLAN_CHANGED,
    SETTLE_BATCH,
    DisconnectJobRecord,
    DisconnectQueue,
    format_result,
)
from radius_server.store.errors import SessionNotFound
from radius_server.store.records import SessionRecord
from radius_server.store.sessions import SessionStore

T = TypeVar("T")

# How often members past their validity are looked for (a cheap join over open sessions).
VALIDITY_CHECK_SECONDS = 30.0
# How often completed jobs older than the retention are deleted.
PRUNE_EVERY_SECONDS = 3600.0
# On shutdown, how long jobs in flight may still run (a stopping server should stop);
# one cut short stays claimed and is taken again after the lease.
DRAIN_SECONDS = 2.0
# What a session's Disconnect-Request came to; the counts of a job's result line.
ACKED, NAK, TIMEOUT, UNSUPPORTED, ERROR = "acked", "nak", "timeout", "unsupported", "error"
# What a plan_changed job's CoA-Request came to: "coa_" + the sender's status.
COA_ACKED = "coa_acked"
# Acct-Interim-Interval when no settings are given (the setting's default).
DEFAULT_INTERIM = 600


class Outcome(Protocol):
    """What the sender returns (runtime/dynauth.py: DynAuthOutcome)."""

    @property
    def status(self) -> str:
        """acked | nak | timeout | error."""
        ...


class Sender(Protocol):
    """runtime/dynauth.py's ``send_request``."""

    def __call__(
        self,
        target: tuple[str, int],
        secret: bytes,
        code: int,
        attributes: Sequence[Attribute],
        *,
        timeouts: Sequence[float],
        log: Any,
        log_fields: Mapping[str, Any] | None = None,
    ) -> Awaitable[Outcome]: ...


def _default_sender() -> Sender:
    from radius_server.runtime.dynauth import send_request

    return send_request


def target_host(nas_address: str) -> str:
    """Where to send: the accounting source address, an IPv4-mapped IPv6 one as IPv4.

    A server listening on ``::`` sees IPv4 access points as ``::ffff:a.b.c.d``.
    """
    try:
        address = ipaddress.ip_address(nas_address.split("%", 1)[0])
    except ValueError:
        return nas_address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return nas_address


def request_attributes(session: SessionRecord, now: float) -> list[Attribute]:
    """The attributes naming ``session`` to its NAS (RFC 5176 3), as the NAS reported them.

    NAS-IP-Address or NAS-IPv6-Address (whichever it sent), NAS-Identifier,
    User-Name, Acct-Session-Id, Calling-Station-Id and Event-Timestamp; the
    sender adds Message-Authenticator. Raises EncodeError for a value the NAS
    could not have sent (an address that does not parse).
    """
    return session_attributes(
        now=now,
        user_name=session.user_name or None,
        acct_session_id=session.acct_session_id or None,
        calling_station_id=session.calling_station_id,
        nas_ip_address=session.nas_ip_address,
        nas_identifier=session.nas_identifier,
    )


class Disconnector:
    """Polls the disconnect queue and sends the Disconnect-Requests of the jobs it claims."""

    def __init__(
        self,
        queue: DisconnectQueue,
        sessions: SessionStore,
        directory: Directory,
        log: Any,
        *,
        interval: float = 0.25,
        deadline: float = 6.0,
        timeouts: Sequence[float] = (1.0, 2.0, 4.0),
        send: Sender | None = None,
        clock: Callable[[], float] = time.time,
        validity_every: float = VALIDITY_CHECK_SECONDS,
        retention_seconds: float | None = None,
        max_jobs: int = CLAIM_BATCH,
        plan_of: PlanLoader | None = None,
        rules: SessionRules | None = None,
    ) -> None:
        self.queue = queue
        self.sessions = sessions
        self.directory = directory
        self.log = log
        self.interval = interval
        self.timeouts = tuple(timeouts)
        self.send = send or _default_sender()
        self.clock = clock
        self.validity_every = validity_every
        self.retention_seconds = retention_seconds
        self.max_jobs = max_jobs
        # A member's current plan, from the database (plan_changed jobs); None: no
        # plan lookup, every session of such a job is disconnected.
        self.plan_of = plan_of
        # What an Accept carries by the server's settings (interim, time zone): a
        # CoA-Request carries the same. Default: the settings' defaults.
        self.rules = rules or session_rules(0, DEFAULT_INTERIM)
        self.calls = BoundedCalls("disconnector", deadline)
        # BoundedCalls takes one call at a time; jobs running side by side queue here.
        self._db_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._next_validity = 0.0
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        self._failing = False
        # Set by the server on PostgreSQL: poll when notified (runtime/listener.py).
        self.wake: Wakeup | None = None

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        async with self._db_lock:
            return await self.calls.run(call, *args)

    @property
    def failing(self) -> bool:
        """True while the queue's database work fails (it retries every interval)."""
        return self._failing

    @property
    def busy(self) -> int:
        """Jobs in flight."""
        return len(self._tasks)

    async def poll_once(self) -> None:
        """One round: the validity check when due, then claim and start what there is room for."""
        try:
            await self._maintain()
            room = self.max_jobs - len(self._tasks)
            if room > 0 and await self._db(self.queue.has_work, self.clock()):
                await self._settle_idle()
                for job in await self._db(self.queue.claim, self.clock(), room):
                    self._start(job)
        except Exception as exc:  # the database is away: try again next round
            if not self._failing:
                self._failing = True
                self.log.warning("disconnect_queue_degraded", error=describe_error(exc))
            return
        if self._failing:
            self._failing = False
            self.log.info("disconnect_queue_recovered")

    async def _settle_idle(self) -> None:
        """End the jobs of members with no open session in bulk, until none is left."""
        while True:
            settled = await self._db(self.queue.settle_idle, self.clock())
            for job in settled:
                self._log_done(job, [], Counter(), 0.0)
            if len(settled) < SETTLE_BATCH:
                return

    async def _maintain(self) -> None:
        now = self.clock()
        if now >= self._next_validity:
            self._next_validity = now + self.validity_every
            members = await self._db(self.queue.enqueue_validity_ended, now)
            if members:
                self.log.info("disconnect_validity_ended", members=len(members))
        if self.retention_seconds is not None and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            removed = await self._db(self.queue.prune, now - self.retention_seconds)
            if removed:
                self.log.info("disconnect_jobs_pruned", removed=removed)

    def _start(self, job: DisconnectJobRecord) -> None:
        task = asyncio.create_task(self.run_job(job), name=f"disconnect-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _sessions_of(self, job: DisconnectJobRecord) -> list[SessionRecord]:
        """The sessions a job ends: one (if still open) or every open one of the member."""
        if job.session_id is not None:
            try:
                found = self.sessions.get(job.session_id)
            except SessionNotFound:
                return []
            return [found] if found.online else []
        if not job.member_email:
            return []
        return self.sessions.open_sessions(job.member_email)

    def _close(self, session_ids: list[int], now: float) -> int:
        return sum(self.sessions.close(sid, now, "disconnect") for sid in session_ids)

    async def run_job(self, job: DisconnectJobRecord) -> None:
        """Disconnect every session of ``job`` and complete it; a failure leaves it to the lease."""
        started = time.perf_counter()
        try:
            sessions = await self._db(self._sessions_of, job)
            counts: Counter[str] = Counter()
            if job.reason == PLAN_CHANGED:
                found = await self._plan_of(job) if sessions else None
                outcomes = await asyncio.gather(*(self._change(job, s, found) for s in sessions))
                counts.update({key: 0 for key in COA_RESULT_KEYS})
            else:
                single = await asyncio.gather(*(self._disconnect(job, s) for s in sessions))
                outcomes = [(o,) for o in single]
            for outcome in outcomes:
                counts.update(outcome)
            acked = [s.id for s, o in zip(sessions, outcomes, strict=True) if ACKED in o]
            if acked:
                await self._db(self._close, acked, self.clock())
            await self._db(self.queue.complete, job.id, self.clock(), format_result(counts))
        except Exception as exc:  # the database went away mid-job: another round takes it
            self.log.warning(
                "disconnect_job_failed",
                job=job.id,
                reason=job.reason,
                user=job.member_email,
                error=describe_error(exc),
            )
            return
        self._log_done(job, sessions, counts, started)

    def _log_done(
        self,
        job: DisconnectJobRecord,
        sessions: list[SessionRecord],
        counts: Counter[str],
        started: float,
    ) -> None:
        self.log.info(
            "disconnect_job_done",
            job=job.id,
            reason=job.reason,
            user=job.member_email,
            session=job.session_id,
            sessions=len(sessions),
            acked=counts[ACKED],
            nak=counts[NAK],
            timeout=counts[TIMEOUT],
            unsupported=counts[UNSUPPORTED],
            error=counts[ERROR],
            **{key: counts[key] for key in COA_RESULT_KEYS if key in counts},
            duration_ms=round(1000 * (time.perf_counter() - started)) if started else 0,
        )

    async def _plan_of(self, job: DisconnectJobRecord) -> MemberPlan | None:
        """The member and their plan now (from the database); None without a loader or one."""
        if self.plan_of is None or not job.member_email:
            return None
        return await self._db(self.plan_of, job.member_email)

    def _fields(self, job: DisconnectJobRecord, session: SessionRecord) -> dict[str, Any]:
        return {
            "job": job.id,
            "reason": job.reason,
            "user": job.member_email,
            "session": session.id,
            "client": session.client_name,
        }

    def _reachable(
        self, fields: Mapping[str, Any], session: SessionRecord, fresh: MemberPlan | None = None
    ) -> Client | None:
        """The session's NAS if it takes RFC 5176 requests; else logs why not.

        From ``fresh`` (read with the job's plan) when given, else the directory.
        """
        if fresh is not None:
            client = fresh.clients.get(session.client_name)
        else:
            client = self.directory.clients.by_name(session.client_name)
        if client is None or client.coa_port is None:
            self.log.info(
                "disconnect_unsupported",
                **fields,
                detail="unknown_client" if client is None else "no_coa_port",
            )
            return None
        return client

    async def _disconnect(
        self,
        job: DisconnectJobRecord,
        session: SessionRecord,
        extra: Mapping[str, Any] | None = None,
        fresh: MemberPlan | None = None,
    ) -> str:
        """One Disconnect-Request for one session; what came of it.

        ``extra``: more log fields; ``fresh``: NAS records read with a plan_changed
        job's plan (else the directory's).
        """
        fields = {**self._fields(job, session), **(extra or {})}
        client = self._reachable(fields, session, fresh)
        if client is None:
            return UNSUPPORTED
        try:
            attributes = request_attributes(session, self.clock())
        except EncodeError:
            self.log.warning("disconnect_error", **fields, detail="bad_session_attributes")
            return ERROR
        return await self._send(client, session, c.Code.DISCONNECT_REQUEST, attributes, fields)

    async def _send(
        self,
        client: Client,
        session: SessionRecord,
        code: int,
        attributes: Sequence[Attribute],
        fields: Mapping[str, Any],
    ) -> str:
        outcome = await self.send(
            (target_host(session.nas_address), client.coa_port or 0),
            client.dynauth_secret,
            code,
            attributes,
            timeouts=self.timeouts,
            log=self.log,
            log_fields=fields,
        )
        status = str(outcome.status)
        return status if status in (ACKED, NAK, TIMEOUT) else ERROR

    async def _change(
        self, job: DisconnectJobRecord, session: SessionRecord, found: MemberPlan | None
    ) -> tuple[str, ...]:
        """A plan_changed session: a CoA-Request, or a Disconnect-Request when that fails.

        Returns what came of each request sent (``coa_acked``; ``coa_nak`` then the
        disconnect's ``acked``...; or the disconnect's alone).
        """
        plan = found.plan if found is not None else None
        plan_field = {"plan": plan.name if plan is not None else None}
        fields = {**self._fields(job, session), **plan_field}
        client = self._reachable(fields, session, found)
        if client is None:
            return (UNSUPPORTED,)
        location = None
        if client.location_id is not None:
            locations = found.locations if found is not None else self.directory.locations
            location = locations.get(client.location_id)
        change = change_for(found, client, location, self.clock(), self.rules)
        if change.disconnect_because is not None:
            fallback = {**plan_field, "fallback": change.disconnect_because}
            return (await self._disconnect(job, session, fallback, found),)
        try:
            attributes = coa_attributes(
                request_attributes(session, self.clock()), change.attributes
            )
        except EncodeError:
            self.log.warning("coa_error", **fields, detail="bad_session_attributes")
            coa = ERROR
        else:
            coa = await self._send(client, session, c.Code.COA_REQUEST, attributes, fields)
        if coa == ACKED:
            return (COA_ACKED,)
        fallback = {**plan_field, "fallback": f"coa_{coa}"}
        return (f"coa_{coa}", await self._disconnect(job, session, fallback, found))

    async def run(self) -> None:
        """Poll until stop() is called, then let jobs in flight finish (bounded)."""
        await follow(self.poll_once, self._stopping, self.interval, self.wake)
        await self.drain(DRAIN_SECONDS)

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for jobs in flight, then cancel the rest.

        A cancelled job stays claimed and is taken again after the lease.
        """
        if not self._tasks:
            return
        pending = set(self._tasks)
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)

    def stop(self) -> None:
        """Ask run() to return."""
        self._stopping.set()

    def close(self) -> None:
        """Release the worker thread (after run() returned)."""
        self.calls.close()
