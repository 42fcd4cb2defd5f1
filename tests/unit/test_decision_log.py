"""Recent decisions: the bounded queue, rows, the batch writer (fake store), the engine hook.

The real table is exercised by tests/integration/test_decisions.py; here a fake
store stands in for store/decisions.DecisionStore.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

from sqlalchemy.exc import OperationalError

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_status_server
from radius_server.rules.decision_log import (
    DecisionQueue,
    DecisionRow,
    Entry,
    due_sign_ins,
    last_sign_ins,
    storable_user,
    to_rows,
)
from radius_server.runtime.decisions import PRUNE_CHUNK, DecisionRecorder
from tests.unit.engine_harness import NAS_ADDRESS, SECRET, Harness, RecordingLog


def entry(n: int, user: str = "ana@example.com", outcome: str = "accept") -> Entry:
    return (1000.0 + n, user, "ap", None, "pap", outcome, "ok", None)


# -- the queue ---------------------------------------------------------------------


def test_the_queue_keeps_the_newest_and_counts_what_it_lets_go() -> None:
    queue = DecisionQueue(3)
    for n in range(5):
        queue.append(entry(n))
    assert queue.dropped == 2
    assert [e[0] for e in queue.take(10)] == [1002.0, 1003.0, 1004.0]
    assert len(queue) == 0


def test_a_batch_put_back_goes_first_and_the_oldest_beyond_the_bound_go() -> None:
    queue = DecisionQueue(4)
    for n in range(3):
        queue.append(entry(n))
    batch = queue.take(2)  # 0, 1
    for n in range(3, 6):
        queue.append(entry(n))  # queue: 2, 3, 4, 5
    queue.put_back(batch)  # 0, 1, 2, 3, 4, 5 -> the two oldest go
    assert queue.dropped == 2
    assert [e[0] for e in queue.take(10)] == [1002.0, 1003.0, 1004.0, 1005.0]


# -- rows --------------------------------------------------------------------------


def test_users_are_stored_lower_cased_when_emails_and_made_safe() -> None:
    assert storable_user(" Ana@Example.COM ") == "ana@example.com"
    assert storable_user("HOST/Laptop") == "HOST/Laptop"  # not an email: as sent
    assert storable_user("a\x00b\x1b@x.org") == "ab@x.org"
    assert storable_user(None) == ""
    assert len(storable_user("a" * 300 + "@x.org")) == 254


def test_rows_find_members_and_bound_every_text() -> None:
    long_station = "AA-BB" * 20 + "\x07"
    entries: list[Entry] = [
        (1.0, "ANA@example.com", "ap", long_station, "peap-mschapv2", "accept", "ok", "desk"),
        (2.0, "nobody@example.com", "ap", None, None, "reject", "unknown_user", None),
    ]
    rows = to_rows(entries, {"ana@example.com": 7})
    assert rows[0] == DecisionRow(
        1.0,
        "ana@example.com",
        7,
        "ap",
        ("AA-BB" * 20)[:64],
        "peap-mschapv2",
        "accept",
        "ok",
        "desk",
    )
    assert rows[1].customer_id is None and rows[1].calling_station is None


def test_last_sign_ins_are_the_latest_accept_per_member() -> None:
    rows = to_rows(
        [
            (5.0, "a@x.org", "ap", None, "pap", "accept", "ok", None),
            (9.0, "a@x.org", "ap", None, "pap", "reject", "wrong_pin", None),
            (7.0, "a@x.org", "ap", None, "pap", "accept", "ok", None),
            (3.0, "b@x.org", "ap", None, "pap", "accept", "ok", None),
            (4.0, "c@x.org", "ap", None, "pap", "accept", "ok", None),  # no member
        ],
        {"a@x.org": 1, "b@x.org": 2},
    )
    assert last_sign_ins(rows) == {1: 7.0, 2: 3.0}


# -- the writer --------------------------------------------------------------------


class FakeStore:
    """Each write is one transaction; can be down; may leave members locked."""

    def __init__(self) -> None:
        self.writes: list[tuple[list[DecisionRow], dict[int, float]]] = []
        self.down = False
        self.locked: set[int] = set()
        self.pruned: list[int] = []
        self.due = 0  # rows old enough to prune
        self.lock = threading.Lock()

    def write(
        self, rows: Sequence[DecisionRow], instance: str, sign_ins: Mapping[int, float]
    ) -> dict[int, float]:
        if self.down:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        assert instance == "test:1"
        self.writes.append((list(rows), dict(sign_ins)))
        return {m: at for m, at in sign_ins.items() if m in self.locked}

    def prune(self, now: float, retention_seconds: float, limit: int = 5000) -> int:
        count = min(self.due, limit)
        self.due -= count
        self.pruned.append(count)
        return count


def recorder(store: FakeStore, log: RecordingLog, **kwargs: object) -> DecisionRecorder:
    return DecisionRecorder(
        store,
        log,
        {"ana@example.com": 1, "bob@example.com": 2}.get,
        instance="test:1",
        **kwargs,  # type: ignore[arg-type]
    )


def test_queued_decisions_are_written_in_batches_with_last_sign_ins_to_the_minute() -> None:
    store, log = FakeStore(), RecordingLog()
    rec = recorder(store, log, batch_max=2)
    rec.record(entry(0))
    rec.record(entry(1))
    rec.record(entry(30))  # the same minute as the last one written: not again
    rec.record(entry(31, "BOB@example.com", "reject"))
    rec.record(entry(61))  # a minute after the last one written
    asyncio.run(rec.write_queued())
    rec.close()
    assert [len(rows) for rows, _ in store.writes] == [2, 2, 1]
    assert [sign_ins for _, sign_ins in store.writes] == [{1: 1001.0}, {}, {1: 1061.0}]
    assert rec.stats == {"written": 5, "batches": 3, "pruned": 0}


def test_a_round_writes_what_was_queued_when_it_began_not_what_arrives_meanwhile() -> None:
    """Under steady load, decisions arrive during every write: a round that drained
    "until empty" never ended, writing a few rows per transaction back to back. They
    wait for the next round (one interval later); the last write at stop takes all."""
    store, log = FakeStore(), RecordingLog()
    rec = recorder(store, log, batch_max=2)
    write = store.write

    def busy_write(
        rows: Sequence[DecisionRow], instance: str, sign_ins: Mapping[int, float]
    ) -> dict[int, float]:
        rec.record(entry(100 + len(store.writes)))  # one arrives while each write runs
        return write(rows, instance, sign_ins)

    store.write = busy_write  # type: ignore[method-assign]
    for second in range(3):
        rec.record(entry(second))
    asyncio.run(rec.write_queued())
    assert [len(rows) for rows, _ in store.writes] == [2, 1]
    assert len(rec.queue) == 2  # the arrivals, for the next round
    store.write = write  # type: ignore[method-assign]  # stopping: nothing arrives now
    asyncio.run(rec.write_queued(everything=True))
    rec.close()
    assert len(rec.queue) == 0
    assert [row.at for rows, _ in store.writes for row in rows] == [
        1000.0,
        1001.0,
        1002.0,
        1100.0,
        1101.0,
    ]


def test_due_sign_ins_are_a_minute_after_the_last_written() -> None:
    assert due_sign_ins({1: 100.0, 2: 100.0, 3: 100.0}, {1: 41.0, 2: 40.0}, 60.0) == {
        2: 100.0,
        3: 100.0,
    }


def test_an_outage_keeps_the_newest_counts_drops_and_warns_once() -> None:
    store, log = FakeStore(), RecordingLog()
    rec = recorder(store, log, bound=5)
    store.down = True

    async def scenario() -> None:
        for n in range(4):
            rec.record(entry(n))
            await rec.write_queued()  # fails each time: put back
        for n in range(4, 8):
            rec.record(entry(n))
        await rec.write_queued()
        store.down = False
        await rec.write_queued()

    asyncio.run(scenario())
    rec.close()
    assert len(log.named("decision_log_failed")) == 1
    assert log.named("decision_log_recovered")[0]["dropped"] == 3
    assert rec.dropped == 3
    written = [row.at for rows, _ in store.writes for row in rows]
    assert written == [1003.0, 1004.0, 1005.0, 1006.0, 1007.0]


def test_a_locked_members_sign_in_is_applied_with_a_later_batch() -> None:
    store, log = FakeStore(), RecordingLog()
    rec = recorder(store, log)
    store.locked = {1}
    rec.record(entry(0))
    asyncio.run(rec.write_queued())
    assert store.writes[-1][1] == {1: 1000.0}
    store.locked = set()
    rec.record(entry(1, "bob@example.com"))
    asyncio.run(rec.write_queued())
    rec.close()
    assert store.writes[-1][1] == {1: 1000.0, 2: 1001.0}


def test_pruning_repeats_while_whole_chunks_go() -> None:
    store, log = FakeStore(), RecordingLog()
    rec = recorder(store, log, prune_first=0.0)
    store.due = 2 * PRUNE_CHUNK + 10
    asyncio.run(rec.run_once())
    rec.close()
    assert store.pruned == [PRUNE_CHUNK, PRUNE_CHUNK, 10]
    assert log.named("decisions_pruned")[0]["count"] == 2 * PRUNE_CHUNK + 10


def test_run_writes_what_is_queued_when_stopped() -> None:
    store, log = FakeStore(), RecordingLog()
    rec = recorder(store, log, interval=60.0)

    async def scenario() -> None:
        task = asyncio.create_task(rec.run())
        await asyncio.sleep(0)
        rec.record(entry(0))
        rec.stop()
        await task

    asyncio.run(scenario())
    rec.close()
    assert [row.at for rows, _ in store.writes for row in rows] == [1000.0]


# -- the engine's hook -------------------------------------------------------------


def test_the_engine_records_accepts_and_rejects_only_and_never_a_pin() -> None:
    h = Harness()
    recorded: list[Entry] = []
    h.engine.record_decision = recorded.append
    h.add_member("ana@example.com", "24680")
    assert h.send("Ana@Example.com", "24680", "AA-BB-CC-DD-EE-FF")[0] == c.Code.ACCESS_ACCEPT
    assert h.send("ana@example.com", "13579")[0] == c.Code.ACCESS_REJECT
    assert h.send("Nobody@Example.com", "13579", method="chap")[0] == c.Code.ACCESS_REJECT
    # Not recorded: a drop (storage not loaded) and Status-Server.
    h.directory.ready = False
    assert h.send("ana@example.com", "24680")[0] is None
    status = encode_status_server(SECRET, identifier=9).packet
    assert h.engine.handle_auth(status, (NAS_ADDRESS, 9)) is not None
    assert [(e[1], e[2], e[3], e[4], e[5], e[6]) for e in recorded] == [
        ("ana@example.com", "ap", "AA-BB-CC-DD-EE-FF", "pap", "accept", "ok"),
        ("ana@example.com", "ap", None, "pap", "reject", "wrong_pin"),
        ("Nobody@Example.com", "ap", None, "chap", "reject", "unknown_user"),
    ]
    assert all(e[0] == h.clock.now for e in recorded)
    assert not any("24680" in repr(e) or "13579" in repr(e) for e in recorded)


def test_a_bug_in_one_round_is_logged_and_recording_goes_on() -> None:
    store, log = FakeStore(), RecordingLog()
    calls = iter([KeyError, None, None])

    def member_id(email: str) -> int | None:
        failure = next(calls, None)
        if failure is not None:
            raise failure(email)
        return None

    rec = DecisionRecorder(store, log, member_id, instance="test:1", interval=0.01)

    async def scenario() -> None:
        task = asyncio.create_task(rec.run())
        rec.record(entry(0))
        while not log.named("internal_error"):
            await asyncio.sleep(0.01)
        rec.record(entry(1))
        while not store.writes:
            await asyncio.sleep(0.01)
        rec.stop()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 10))
    rec.close()
    assert log.named("internal_error")[0]["where"] == "decision_log"
    assert [row.at for rows, _ in store.writes for row in rows] == [1001.0]
