"""Accounting that loses nothing: group commit to the database, a spool while it is away.

An Accounting-Response tells the NAS it may forget the record (RFC 2866 2), so
the engine hands each authentic Accounting-Request's record to
:class:`AccountingWriter` and answers only when ``done(stored)`` says where the
record is kept:

- ``database``: committed. What is submitted while a batch is being written
  waits and goes in the next one: one transaction (one round trip) per batch of
  up to ``accounting_batch_max`` records, not per packet (group commit).
- ``spool``: the database failed or gave no answer within its deadline, so the
  batch was appended to the spool (runtime/spool.py) and flushed to disk. While
  the spool holds anything, new batches go behind it (the order the NASes sent
  them in) and the replay loop moves it into the database, oldest first, with
  the same idempotent ``SessionStore.write``.
- ``rejected``: the database refused the record itself (a value it will never
  take, not an outage): kept in the spool directory's ``rejected.jsonl`` for
  the operator rather than retried forever ahead of everything else.
- None: the spool is full (``accounting_spool_max_records``) or cannot be
  written: not acknowledged, and the NAS retransmits later.

``submit`` is the hot path and touches memory only; every blocking call runs in
a worker thread: the database through ``BoundedCalls`` (each call with a
deadline), the spool's files in a thread of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from radius_server.rules.accounting import AccountingRecord
from radius_server.runtime.bounded import BoundedCalls
from radius_server.runtime.spool import Chunk, Spool

T = TypeVar("T")

STORED_DATABASE = "database"
STORED_SPOOL = "spool"
STORED_REJECTED = "rejected"

# done(stored): where the record is kept (STORED_*), or None when it is not (no answer).
Done = Callable[[str | None], None]

# How often the replay loop looks for segments whose owner died.
ADOPT_INTERVAL_SECONDS = 10.0
# The spool warns from this share of accounting_spool_max_records.
HIGH_WATER = 0.8


class RecordStore(Protocol):
    """What the writer needs of store/sessions.SessionStore."""

    def write(self, records: Sequence[AccountingRecord], now: float) -> Any:
        """Apply ``records`` in order, in one transaction; idempotent."""


def _is_refusal(error: BaseException) -> bool:
    """The database answered and refused what was sent (as opposed to being unreachable).

    Only then is writing the records one by one worth it; anything else (lost
    connection, timeout, lock wait, a bug) is retried later from the spool.
    """
    if not isinstance(error, DBAPIError) or isinstance(error, OperationalError | InterfaceError):
        return False
    return not error.connection_invalidated


class AccountingWriter:
    """Collects accounting records and makes each durable before it is acknowledged."""

    def __init__(
        self,
        store: RecordStore,
        spool: Spool,
        log: Any,
        *,
        batch_max: int = 1000,
        deadline: float = 6.0,
        retry_interval: float = 1.0,
        adopt_interval: float = ADOPT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.spool = spool
        self.log = log
        self.batch_max = batch_max
        self.retry_interval = retry_interval
        self.adopt_interval = adopt_interval
        self.clock = clock
        # One database thread for live batches and replay alike (taken in turn
        # under ``_database``): a call stuck past its deadline blocks the next
        # one instead of letting a later batch overtake it.
        self.calls = BoundedCalls("accounting", deadline)
        self._files = ThreadPoolExecutor(1, thread_name_prefix="spool")
        self._database = asyncio.Lock()
        self._queue: deque[tuple[AccountingRecord, Done]] = deque()
        self._wake = asyncio.Event()
        self._replay_wake = asyncio.Event()
        self._stop_replay = asyncio.Event()
        self._stopping = False
        self._failing = False
        self._high = False
        self._full = False
        # Counters for tests and the report: records by where they went.
        self.stats: dict[str, int] = {
            STORED_DATABASE: 0,
            STORED_SPOOL: 0,
            STORED_REJECTED: 0,
            "refused": 0,
            "replayed": 0,
            "batches": 0,
        }

    # -- hot path ----------------------------------------------------------------

    def submit(self, record: AccountingRecord, done: Done) -> None:
        """Queue ``record``; ``done`` is called later, on the event loop (memory only here)."""
        self._queue.append((record, done))
        if not self._wake.is_set():
            self._wake.set()

    @property
    def queued(self) -> int:
        """Records submitted and not yet written or spooled."""
        return len(self._queue)

    # -- life cycle --------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool and adopt what dead processes left (before serving: their
        records go to the database before any new one). SpoolError if it cannot be used."""
        adopted = await self._in_files(self.spool.open)
        self._log_adopted(adopted)
        if self.spool.records:
            self.log.info("accounting_spool_pending", records=self.spool.records)

    async def run(self) -> None:
        """Write and replay until ``stop()``, then write or spool what is queued, and return."""
        replay = asyncio.create_task(self._replay_loop())
        try:
            await self._intake_loop()
        finally:
            self._stop_replay.set()
            self._replay_wake.set()
            await replay
            with contextlib.suppress(OSError):
                await self._in_files(self.spool.close)
            self.calls.close()
            self._files.shutdown(wait=False)

    def stop(self) -> None:
        """Ask ``run()`` to finish: queued records are still written or spooled and answered."""
        self._stopping = True
        self._wake.set()

    # -- intake ------------------------------------------------------------------

    async def _intake_loop(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            count = min(len(self._queue), self.batch_max)
            batch = [self._queue.popleft() for _ in range(count)]
            await self._store(batch)

    async def _store(self, batch: list[tuple[AccountingRecord, Done]]) -> None:
        """One batch into the database, or into the spool when that fails or has a backlog."""
        records = [record for record, _ in batch]
        reason = "backlog"
        if not self.spool.records:
            async with self._database:
                # Looked at again under the lock: a replay may have just failed.
                if not self.spool.records:
                    try:
                        rejected = await self._commit(records)
                    except Exception as exc:
                        self._write_failed(exc, "live", len(records))
                        reason = type(exc).__name__
                    else:
                        self._write_succeeded()
                        self.stats["batches"] += 1
                        self._finish(batch, rejected)
                        return
        await self._to_spool(batch, reason)

    async def _commit(self, records: list[AccountingRecord]) -> set[int]:
        """Write ``records`` in one transaction; return the ids of those the database refused.

        When the database refuses the batch for what is in it, the records are
        written one by one and each refused one is kept in the rejected file: one
        bad record must not hold back the others, or accounting stops for good.
        Raises when the database is unreachable (the caller spools or retries).
        """
        try:
            await self.calls.run(self.store.write, records, self.clock())
            return set()
        except Exception as exc:
            if not _is_refusal(exc):
                raise
            first = exc
        refused: list[tuple[AccountingRecord, BaseException]] = []
        if len(records) == 1:
            refused.append((records[0], first))
        else:
            for record in records:
                try:
                    await self.calls.run(self.store.write, [record], self.clock())
                except Exception as exc:
                    if not _is_refusal(exc):
                        raise
                    refused.append((record, exc))
            if not refused:
                return set()
        path = await self._in_files(self.spool.reject, [record for record, _ in refused])
        for record, error in refused:
            self.log.error(
                "accounting_record_rejected",
                error=type(getattr(error, "orig", None) or error).__name__,
                status_type=record.status.label,
                session_id=record.acct_session_id[:64],
                client=record.client_name,
                kept_in=str(path),
            )
        return {id(record) for record, _ in refused}

    async def _to_spool(self, batch: list[tuple[AccountingRecord, Done]], reason: str) -> None:
        room = self.spool.room()
        kept, refused = batch[:room], batch[room:]
        if kept:
            try:
                await self._in_files(self.spool.append, [record for record, _ in kept])
            except OSError as exc:
                self.log.error(
                    "accounting_spool_failed",
                    error=type(exc).__name__,
                    detail=exc.strerror,
                    records=len(kept),
                )
                kept, refused = [], batch
            else:
                self.log.info(
                    "accounting_spooled", count=len(kept), reason=reason, spooled=self.spool.records
                )
                self._finish_all(kept, STORED_SPOOL)
                self._replay_wake.set()
                self._check_levels()
        if refused:
            if not self._full:
                self._full = True
                self.log.error(
                    "accounting_spool_full",
                    records=self.spool.records,
                    max_records=self.spool.max_records,
                    refused=len(refused),
                )
            self._finish_all(refused, None)

    def _finish(self, batch: list[tuple[AccountingRecord, Done]], rejected: set[int]) -> None:
        if not rejected:
            self._finish_all(batch, STORED_DATABASE)
            return
        for record, done in batch:
            self._call(done, STORED_REJECTED if id(record) in rejected else STORED_DATABASE)

    def _finish_all(self, batch: list[tuple[AccountingRecord, Done]], stored: str | None) -> None:
        for _, done in batch:
            self._call(done, stored)

    def _call(self, done: Done, stored: str | None) -> None:
        self.stats[stored or "refused"] += 1
        try:
            done(stored)
        except Exception as exc:  # one broken callback must not stop the others
            self.log.error("internal_error", where="accounting_done", error=type(exc).__name__)

    # -- replay ------------------------------------------------------------------

    async def _replay_loop(self) -> None:
        next_scan = time.monotonic() + self.adopt_interval
        while not self._stop_replay.is_set():
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self.adopt_interval
                await self._adopt()
            if not self.spool.records:
                self._replay_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._replay_wake.wait(), self.adopt_interval)
                continue
            if not await self._replay_once():
                # The database is still away: try again later (a stop ends the wait).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_replay.wait(), self.retry_interval)

    async def _replay_once(self) -> bool:
        """Move the oldest spooled records into the database; False if that failed."""
        try:
            chunk: Chunk | None = await self._in_files(self.spool.read, self.batch_max)
        except OSError as exc:
            self.log.error("accounting_spool_failed", error=type(exc).__name__, detail=exc.strerror)
            return False
        if chunk is None:
            return True
        if chunk.unreadable:
            self.log.error(
                "accounting_spool_unreadable", file=chunk.segment.path.name, lines=chunk.unreadable
            )
        if chunk.records:
            async with self._database:
                try:
                    await self._commit(chunk.records)
                except Exception as exc:
                    self._write_failed(exc, "replay", len(chunk.records))
                    return False
            self._write_succeeded()
        try:
            await self._in_files(self.spool.consume, chunk)
        except OSError as exc:
            self.log.error("accounting_spool_failed", error=type(exc).__name__, detail=exc.strerror)
            return False
        self.stats["replayed"] += len(chunk.records)
        self.log.info(
            "accounting_spool_replayed", count=len(chunk.records), remaining=self.spool.records
        )
        if not self.spool.records:
            self.log.info("accounting_spool_drained")
        self._check_levels()
        return True

    async def _adopt(self) -> None:
        try:
            adopted = await self._in_files(self.spool.adopt)
        except OSError as exc:
            self.log.error("accounting_spool_failed", error=type(exc).__name__, detail=exc.strerror)
            return
        self._log_adopted(adopted)
        if adopted:
            self._check_levels()

    def _log_adopted(self, adopted: list[Any]) -> None:
        for found in adopted:
            self.log.info("accounting_spool_adopted", file=found.name, records=found.records)

    # -- reporting ---------------------------------------------------------------

    def _write_failed(self, error: BaseException, stage: str, records: int) -> None:
        # Once per outage: the replay retries every second while the database is away.
        (self.log.debug if self._failing else self.log.warning)(
            "accounting_write_failed",
            error=type(error).__name__,
            stage=stage,
            records=records,
        )
        self._failing = True

    def _write_succeeded(self) -> None:
        if self._failing:
            self._failing = False
            self.log.info("accounting_write_recovered")

    def _check_levels(self) -> None:
        """``accounting_spool_high`` once per crossing of 80 %; re-arm ``_full`` below the top."""
        records, limit = self.spool.records, self.spool.max_records
        if records >= HIGH_WATER * limit:
            if not self._high:
                self._high = True
                self.log.warning("accounting_spool_high", records=records, max_records=limit)
        else:
            self._high = False
        if records < limit:
            self._full = False

    async def _in_files(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._files, call, *args)
