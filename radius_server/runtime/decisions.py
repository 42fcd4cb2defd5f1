"""Recent decisions into the database: the hot path appends a tuple, a task writes batches.

The engine calls :meth:`DecisionRecorder.record` once per Access-Request it
accepts or rejects: one append to a bounded in-memory queue (rules/decision_log.py).
:meth:`DecisionRecorder.run` takes what has queued every ``interval`` seconds and
writes it in one transaction per batch (like the accounting writer's group commit,
runtime/accounting.py), moving accepted members' ``last_sign_in_at`` forward in the
same transaction. Members' ids are looked up in the directory here, off the hot path.

Decisions are a convenience record, not accounting: while the database is away a
failed batch goes back to the front of the queue, the queue keeps the newest
``bound`` entries, and what it lets go is counted. One ``decision_log_failed``
warning per outage, one ``decision_log_recovered`` (with ``dropped``) after it.
Every ``prune_interval`` it deletes decisions older than the retention.
See docs/architecture.md "Recent decisions".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from radius_server.rules.decision_log import (
    DecisionQueue,
    DecisionRow,
    Entry,
    due_sign_ins,
    last_sign_ins,
    to_rows,
)
from radius_server.runtime.bounded import BoundedCalls, describe_error

# Seconds between writes: decisions show up on the page within about this.
WRITE_INTERVAL_SECONDS = 0.5
# Rows per transaction at most.
BATCH_MAX = 1000
# Seconds between pruning rounds; the first comes a minute after start.
PRUNE_INTERVAL_SECONDS = 600.0
PRUNE_FIRST_SECONDS = 60.0
# Decisions deleted per pruning transaction at most.
PRUNE_CHUNK = 5000
# Sign-ins left for later (their member's row was locked) kept at most.
MAX_CARRIED = 10_000
# A member's last sign-in is written at most once per this many seconds by a process
# (it is shown to the minute), and members remembered for it at most.
SIGN_IN_RESOLUTION_SECONDS = 60.0
MAX_REMEMBERED = 200_000


class DecisionSink(Protocol):
    """What the recorder needs of store/decisions.DecisionStore."""

    def write(
        self, rows: Sequence[DecisionRow], instance: str, sign_ins: Mapping[int, float]
    ) -> dict[int, float]:
        """Insert rows and move last sign-ins forward in one transaction; return those left."""
        ...

    def prune(self, now: float, retention_seconds: float, limit: int = 5000) -> int:
        """Delete up to ``limit`` decisions older than the retention; return how many."""
        ...


class DecisionRecorder:
    """The bounded queue of decisions and the task that writes and prunes them."""

    def __init__(
        self,
        store: DecisionSink,
        log: Any,
        member_id: Callable[[str], int | None],
        *,
        instance: str,
        bound: int = 10_000,
        retention_seconds: float = 30 * 86400.0,
        interval: float = WRITE_INTERVAL_SECONDS,
        batch_max: int = BATCH_MAX,
        prune_interval: float = PRUNE_INTERVAL_SECONDS,
        prune_first: float = PRUNE_FIRST_SECONDS,
        deadline: float = 6.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.log = log
        self.member_id = member_id
        self.instance = instance
        self.queue = DecisionQueue(bound)
        self.retention_seconds = retention_seconds
        self.interval = interval
        self.batch_max = batch_max
        self.prune_interval = prune_interval
        self.clock = clock
        self.calls = BoundedCalls("decisions", deadline)
        self._next_prune = time.monotonic() + prune_first
        self._carried: dict[int, float] = {}
        # Member id -> the last sign-in this process wrote for them.
        self._written: dict[int, float] = {}
        self._stopping = asyncio.Event()
        self._failing = False
        # queue.dropped at the last successful write: the recovery line reports the
        # drops since (a burst may overflow the queue before a write even fails).
        self._dropped_mark = 0
        self.stats = {"written": 0, "batches": 0, "pruned": 0}
        # The hot path's one call: the queue's own append, no wrapper in between.
        self.record: Callable[[Entry], None] = self.queue.append

    @property
    def dropped(self) -> int:
        """Decisions let go since start (the queue was full while the database was away)."""
        return self.queue.dropped

    # -- the loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Write every ``interval`` seconds until ``stop()``; then write what is queued once."""
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # a bug must not end recording (nor the server)
                self.log.error("internal_error", where="decision_log", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
        # A last try, so a graceful stop loses nothing while the database answers.
        await self.write_queued(everything=True)
        if len(self.queue):
            self.log.warning(
                "decision_log_unwritten", count=len(self.queue), dropped=self.queue.dropped
            )

    def stop(self) -> None:
        """Ask ``run()`` to finish."""
        self._stopping.set()

    async def run_once(self) -> None:
        """Write what is queued, then prune when it is time."""
        await self.write_queued()
        if time.monotonic() >= self._next_prune and not self._failing:
            self._next_prune = time.monotonic() + self.prune_interval
            await self.prune()

    async def write_queued(self, everything: bool = False) -> None:
        """Write what is queued now, in batches; on a failure put the batch back and stop.

        Decisions that arrive while it writes wait for the next round (``interval``):
        draining "until empty" under steady load never ended, one small batch after
        another back to back, a transaction per few rows (bench/README.md, "Outside the
        main thread"). ``everything``: until the queue is empty (the last write at stop).
        """
        remaining = len(self.queue)
        while remaining or self._carried or (everything and len(self.queue)):
            batch = self.queue.take(
                self.batch_max if everything else min(self.batch_max, remaining)
            )
            remaining = max(0, remaining - len(batch)) if batch else 0
            rows = to_rows(batch, self.member_id)
            sign_ins = self._carried
            due = due_sign_ins(last_sign_ins(rows), self._written, SIGN_IN_RESOLUTION_SECONDS)
            for member, at in due.items():
                if at > sign_ins.get(member, float("-inf")):
                    sign_ins[member] = at
            self._carried = {}
            try:
                later = await self.calls.run(self.store.write, rows, self.instance, sign_ins)
            except Exception as exc:
                self.queue.put_back(batch)
                self._carried = _bounded(sign_ins)
                self._write_failed(exc)
                return
            self._write_succeeded()
            self._remember(sign_ins, later)
            self.stats["written"] += len(rows)
            self.stats["batches"] += 1
            if later:
                self._carried = _bounded(later)
                if not batch:
                    return  # only members still locked: try with the next batch

    async def prune(self) -> None:
        """Delete decisions past the retention, a bounded chunk per transaction."""
        total = 0
        try:
            while True:
                count = await self.calls.run(
                    self.store.prune, self.clock(), self.retention_seconds, PRUNE_CHUNK
                )
                total += count
                if count < PRUNE_CHUNK or self._stopping.is_set():
                    break
        except Exception as exc:
            self._write_failed(exc)
        if total:
            self.stats["pruned"] += total
            self.log.info("decisions_pruned", count=total)

    def _remember(self, sign_ins: dict[int, float], later: dict[int, float]) -> None:
        written = self._written
        if len(written) + len(sign_ins) > MAX_REMEMBERED:
            written.clear()  # at worst one more UPDATE per member
        for member, at in sign_ins.items():
            if member not in later and at > written.get(member, float("-inf")):
                written[member] = at

    # -- reporting ---------------------------------------------------------------

    def _write_failed(self, error: BaseException) -> None:
        if self._failing:
            return
        # Once per outage: the loop retries every interval while the database is away.
        self._failing = True
        self.log.warning(
            "decision_log_failed",
            error=type(error).__name__,
            detail=describe_error(error),
            queued=len(self.queue),
            bound=self.queue.bound,
        )

    def _write_succeeded(self) -> None:
        dropped = self.queue.dropped
        if self._failing:
            self._failing = False
            self.log.info("decision_log_recovered", dropped=dropped - self._dropped_mark)
        self._dropped_mark = dropped

    def close(self) -> None:
        """Release the worker thread (after ``run()`` returned)."""
        self.calls.close()


def _bounded(sign_ins: dict[int, float]) -> dict[int, float]:
    """At most MAX_CARRIED sign-ins, the latest kept (a last sign-in is a convenience too)."""
    if len(sign_ins) <= MAX_CARRIED:
        return sign_ins
    latest = sorted(sign_ins.items(), key=lambda item: item[1])[-MAX_CARRIED:]
    return dict(latest)
