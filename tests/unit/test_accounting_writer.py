"""runtime/accounting.py: group commit, the spool during an outage, replay, bounds, stop.

A fake store stands in for store/sessions.SessionStore (the real one is exercised
by tests/integration/test_accounting.py); the spool is the real one, on disk.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from radius_server.rules.accounting import AccountingRecord
from radius_server.runtime.accounting import AccountingWriter
from radius_server.runtime.spool import REJECTED_FILE, Spool, decode_line
from tests.unit.engine_harness import RecordingLog
from tests.unit.test_spool import ids, make_record


class FakeStore:
    """Records each write (one transaction); can be down, slow, or refuse a record."""

    def __init__(self) -> None:
        self.batches: list[list[AccountingRecord]] = []
        self.down = False
        self.gate: threading.Event | None = None  # a write waits for it
        self.poison: set[str] = set()  # session ids the database refuses
        self.lock = threading.Lock()

    def write(self, records: Sequence[AccountingRecord], now: float) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        if any(r.acct_session_id in self.poison for r in records):
            raise IntegrityError("INSERT", {}, Exception("value out of range"))
        with self.lock:
            self.batches.append(list(records))

    @property
    def written(self) -> list[int]:
        return [n for batch in self.batches for n in ids(batch)]


class Acks:
    """The engine's side: where each record was kept, in the order the answers came."""

    def __init__(self) -> None:
        self.by_id: dict[int, str | None] = {}
        self.order: list[int] = []

    def done_for(self, n: int) -> Callable[[str | None], None]:
        def done(stored: str | None) -> None:
            assert n not in self.by_id, "done called twice"
            self.by_id[n] = stored
            self.order.append(n)

        return done


def run_writer(
    tmp_path: Path,
    scenario: Callable[[AccountingWriter, FakeStore, Acks], Awaitable[None]],
    *,
    store: FakeStore | None = None,
    max_records: int = 1000,
    log: RecordingLog | None = None,
    **options: Any,
) -> tuple[AccountingWriter, FakeStore, Acks]:
    """Start a writer, play ``scenario``, stop it (the flush), return what happened."""
    store = store or FakeStore()
    acks = Acks()
    options.setdefault("retry_interval", 0.05)
    options.setdefault("deadline", 2.0)
    writer = AccountingWriter(
        store, Spool(tmp_path / "spool", max_records), log or RecordingLog(), **options
    )

    async def main() -> None:
        await writer.start()
        task = asyncio.create_task(writer.run())
        try:
            await scenario(writer, store, acks)
        finally:
            if store.gate is not None:
                store.gate.set()
            writer.stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(main())
    return writer, store, acks


def submit(writer: AccountingWriter, acks: Acks, numbers: range | list[int]) -> None:
    for n in numbers:
        writer.submit(make_record(n), acks.done_for(n))


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def test_records_queued_during_a_write_go_in_the_next_transaction(tmp_path: Path) -> None:
    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        store.gate = threading.Event()
        submit(writer, acks, [0])
        await until(lambda: writer.queued == 0)  # the first batch is being written
        submit(writer, acks, range(1, 50))
        await asyncio.sleep(0.05)
        # Nothing is acknowledged before its transaction committed.
        assert acks.by_id == {}
        store.gate.set()
        await until(lambda: len(acks.by_id) == 50)

    _, store, acks = run_writer(tmp_path, scenario)
    assert [ids(b) for b in store.batches] == [[0], list(range(1, 50))]
    assert set(acks.by_id.values()) == {"database"}


def test_a_batch_holds_at_most_batch_max(tmp_path: Path) -> None:
    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        submit(writer, acks, range(25))
        await until(lambda: len(acks.by_id) == 25)

    _, store, _ = run_writer(tmp_path, scenario, batch_max=10)
    assert [len(b) for b in store.batches] == [10, 10, 5]
    assert store.written == list(range(25))


def test_an_outage_is_answered_from_the_spool_and_replayed_in_order(tmp_path: Path) -> None:
    log = RecordingLog()

    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        submit(writer, acks, range(5))
        await until(lambda: len(acks.by_id) == 5)
        store.down = True
        submit(writer, acks, range(5, 10))
        await until(lambda: len(acks.by_id) == 10)
        submit(writer, acks, range(10, 15))
        await until(lambda: len(acks.by_id) == 15)
        assert writer.spool.records == 10
        store.down = False
        # While the backlog drains, new records queue behind it, never ahead.
        submit(writer, acks, range(15, 20))
        await until(lambda: len(acks.by_id) == 20 and writer.spool.records == 0)
        submit(writer, acks, range(20, 25))
        await until(lambda: len(acks.by_id) == 25)

    writer, store, acks = run_writer(tmp_path, scenario, log=log)
    assert store.written == list(range(25))
    assert {n: acks.by_id[n] for n in (0, 5, 10, 20)} == {
        0: "database",
        5: "spool",
        10: "spool",
        20: "database",
    }
    spooled = log.named("accounting_spooled")
    assert spooled[0]["reason"] == "OperationalError" and spooled[0]["count"] == 5
    assert spooled[1]["reason"] == "backlog"
    failed = log.named("accounting_write_failed")
    # A warning once per outage; the retries after it at debug.
    assert [e["level"] for e in failed].count("warning") == 1
    assert (
        sum(e["count"] for e in log.named("accounting_spool_replayed")) == writer.stats["replayed"]
    )
    assert log.named("accounting_spool_drained")
    assert log.named("accounting_write_recovered")
    assert not list((tmp_path / "spool").glob("acct-*"))


def test_a_database_that_does_not_answer_is_given_up_on_at_the_deadline(tmp_path: Path) -> None:
    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        store.gate = threading.Event()  # every write hangs
        submit(writer, acks, range(3))
        await until(lambda: len(acks.by_id) == 3)
        assert set(acks.by_id.values()) == {"spool"}
        store.gate.set()
        store.gate = None
        await until(lambda: writer.spool.records == 0)

    _, store, _ = run_writer(tmp_path, scenario, deadline=0.2)
    # The batch that overran may still commit late: a duplicate, which the merge absorbs.
    assert set(store.written) == {0, 1, 2}
    assert store.written[-3:] == [0, 1, 2]


def test_a_full_spool_refuses_and_warns_at_80_percent_once(tmp_path: Path) -> None:
    log = RecordingLog()

    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        store.down = True
        for start in range(0, 12, 2):  # batches of 2 up to 12 records, 10 fit
            submit(writer, acks, range(start, start + 2))
            await until(lambda start=start: len(acks.by_id) == start + 2)

    writer, _store, acks = run_writer(tmp_path, scenario, max_records=10, log=log)
    assert [acks.by_id[n] for n in range(12)] == ["spool"] * 10 + [None, None]
    assert len(log.named("accounting_spool_high")) == 1
    assert log.named("accounting_spool_high")[0]["records"] == 8
    (full,) = log.named("accounting_spool_full")
    assert full["refused"] == 2
    assert writer.spool.records == 10  # left for the next start


def test_the_spool_left_by_a_stop_is_replayed_by_the_next_start_first(tmp_path: Path) -> None:
    async def outage(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        store.down = True
        submit(writer, acks, range(20))
        await until(lambda: len(acks.by_id) == 20)

    run_writer(tmp_path, outage)
    log = RecordingLog()

    async def after(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        assert writer.spool.records == 20
        submit(writer, acks, range(20, 25))
        await until(lambda: len(acks.by_id) == 5 and writer.spool.records == 0)

    _, store, _acks = run_writer(tmp_path, after, log=log)
    assert store.written == list(range(25))
    assert log.named("accounting_spool_pending")[0]["records"] == 20


def test_stop_flushes_what_is_queued(tmp_path: Path) -> None:
    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        submit(writer, acks, range(30))  # stop follows at once

    _, store, acks = run_writer(tmp_path, scenario, batch_max=7)
    assert sorted(acks.by_id) == list(range(30))
    assert store.written == list(range(30))


def test_stop_during_an_outage_spools_what_is_queued(tmp_path: Path) -> None:
    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        store.down = True
        submit(writer, acks, range(30))

    _writer, _store, acks = run_writer(tmp_path, scenario)
    assert set(acks.by_id.values()) == {"spool"} and len(acks.by_id) == 30
    heir = Spool(tmp_path / "spool", 1000)
    assert sum(a.records for a in heir.open()) == 30
    heir.close()


def test_a_record_the_database_refuses_is_set_aside_not_retried_forever(tmp_path: Path) -> None:
    log = RecordingLog()

    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        store.poison = {"s-3"}
        submit(writer, acks, range(6))
        await until(lambda: len(acks.by_id) == 6)
        # The same in a replay: it must not block the spool.
        store.down = True
        submit(writer, acks, range(6, 10))
        await until(lambda: len(acks.by_id) == 10)
        store.poison = {"s-7"}
        store.down = False
        await until(lambda: writer.spool.records == 0)

    _, store, acks = run_writer(tmp_path, scenario, log=log)
    assert acks.by_id[3] == "rejected" and acks.by_id[2] == "database"
    assert sorted(store.written) == [0, 1, 2, 4, 5, 6, 8, 9]
    kept = (tmp_path / "spool" / REJECTED_FILE).read_bytes().splitlines()
    assert [ids([decode_line(line)]) for line in kept] == [[3], [7]]  # type: ignore[list-item]
    assert [e["session_id"] for e in log.named("accounting_record_rejected")] == ["s-3", "s-7"]


def test_orphans_found_while_running_are_adopted(tmp_path: Path) -> None:
    dead = Spool(tmp_path / "spool", 1000)
    dead.open()

    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        # Another worker spooled, then died after this one started.
        dead.append([make_record(n) for n in range(100, 104)])
        dead.close()
        await until(lambda: sorted(store.written) == [100, 101, 102, 103])

    log = RecordingLog()
    run_writer(tmp_path, scenario, log=log, adopt_interval=0.05)
    assert log.named("accounting_spool_adopted")[0]["records"] == 4


def test_a_spool_that_cannot_be_written_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RecordingLog()

    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        def broken(records: Sequence[AccountingRecord]) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(writer.spool, "append", broken)
        store.down = True
        submit(writer, acks, range(3))
        await until(lambda: len(acks.by_id) == 3)

    _, _, acks = run_writer(tmp_path, scenario, log=log)
    assert set(acks.by_id.values()) == {None}
    assert log.named("accounting_spool_failed")[0]["detail"] == "No space left on device"


def test_a_broken_callback_does_not_stop_the_others(tmp_path: Path) -> None:
    log = RecordingLog()

    async def scenario(writer: AccountingWriter, store: FakeStore, acks: Acks) -> None:
        def broken(stored: str | None) -> None:
            raise RuntimeError("planted")

        writer.submit(make_record(0), broken)
        submit(writer, acks, [1])
        await until(lambda: len(acks.by_id) == 1)

    run_writer(tmp_path, scenario, log=log)
    assert log.named("internal_error")[0]["where"] == "accounting_done"
