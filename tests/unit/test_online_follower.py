"""The sessions table followed into the online view, and the stale-session loop (fake store)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from radius_server.rules.online import OnlineDevices
from radius_server.runtime import online as follower_module
from radius_server.runtime.online import OVERLAP_EVERY_SECONDS, SessionFollower, observe_rows
from radius_server.runtime.stale_sessions import SessionUpkeep, stale_after
from radius_server.store.records import SessionRecord
from tests.unit.engine_harness import FakeClock, RecordingLog

NOW = 1_800_000_000.0
ANA, BOB = 1, 2
PHONE, LAPTOP = "02:00:00:00:00:01", "02:00:00:00:00:02"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def row(
    key: str,
    member: int = ANA,
    station: str | None = PHONE,
    updated: float = NOW,
    stopped: float | None = None,
    changed: float | None = None,
    row_id: int = 1,
) -> SessionRecord:
    return SessionRecord(
        id=row_id,
        unique_key=key,
        client_name="lobby",
        nas_address="192.0.2.10",
        nas_ip_address="192.0.2.10",
        nas_identifier=None,
        nas_port=1,
        acct_session_id=key,
        user_name="ana@example.com",
        member_email="ana@example.com",
        customer_id=member,
        calling_station_id=station,
        called_station_id=None,
        framed_ip_address=None,
        class_hex=None,
        started_at=at(updated),
        updated_at=at(updated),
        stopped_at=None if stopped is None else at(stopped),
        session_time=0,
        input_octets=0,
        output_octets=0,
        input_packets=0,
        output_packets=0,
        terminate_cause=None,
        close_reason=None if stopped is None else "stop",
        changed_at=at(changed if changed is not None else (stopped or updated)),
    )


@dataclass
class FakeStore:
    """The session rows as the database would hand them out (committed ones only)."""

    rows: dict[str, SessionRecord] = field(default_factory=dict)
    fail: bool = False
    calls: list[tuple[str, object]] = field(default_factory=list)
    stale: list[SessionRecord] = field(default_factory=list)
    pruned: int = 0

    def commit(self, *rows: SessionRecord) -> None:
        for r in rows:
            self.rows[r.unique_key] = r

    def _check(self) -> None:
        if self.fail:
            raise ConnectionError("database away")

    def find(self, *, online: bool = False, limit: int = 1000, **_: object) -> list[SessionRecord]:
        self._check()
        self.calls.append(("find", limit))
        found = [r for r in self.rows.values() if not online or r.stopped_at is None]
        return sorted(found, key=lambda r: r.started_at, reverse=True)[:limit]

    def changed_since(self, since: datetime, limit: int = 10000) -> list[SessionRecord]:
        self._check()
        self.calls.append(("changed_since", since))
        found = [r for r in self.rows.values() if r.changed_at >= since]
        return sorted(found, key=lambda r: (r.changed_at, r.id))[:limit]

    def close_stale(self, now: float, silent_for: float) -> list[SessionRecord]:
        self._check()
        self.calls.append(("close_stale", silent_for))
        closed, self.stale = self.stale, []
        return closed

    def prune(self, now: float, retention_seconds: float) -> int:
        self._check()
        self.calls.append(("prune", retention_seconds))
        return self.pruned


@dataclass
class Rig:
    store: FakeStore = field(default_factory=FakeStore)
    view: OnlineDevices = field(default_factory=OnlineDevices)
    log: RecordingLog = field(default_factory=RecordingLog)
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))

    def __post_init__(self) -> None:
        self.follower = SessionFollower(
            self.store,
            self.view,
            self.log,
            deadline=5.0,
            overlap=30.0,
            clock=self.clock,
            monotonic=self.clock,
        )

    def poll(self) -> None:
        asyncio.run(self.follower.poll_once())

    def devices(self, member: int = ANA) -> set[str]:
        return set(self.view.stations(member, self.clock.now))


def test_the_full_load_counts_every_open_session() -> None:
    rig = Rig()
    rig.store.commit(
        row("a", updated=NOW - 100),
        row("b", member=BOB, station=LAPTOP, updated=NOW - 50),
        row("c", station=LAPTOP, updated=NOW - 200, stopped=NOW - 150),
    )
    rig.poll()
    assert rig.devices(ANA) == {PHONE}
    assert rig.devices(BOB) == {LAPTOP}
    assert rig.store.calls[0] == ("find", follower_module.FULL_LOAD_LIMIT)
    (loaded,) = rig.log.named("online_devices_loaded")
    assert loaded["sessions"] == 2


def test_rows_changed_on_another_instance_reach_the_view() -> None:
    rig = Rig()
    rig.poll()
    rig.clock.advance(1)
    rig.store.commit(row("a", updated=rig.clock.now))  # a Start written by instance A
    rig.poll()
    assert rig.devices() == {PHONE}
    rig.clock.advance(1)
    rig.store.commit(row("a", updated=NOW, stopped=rig.clock.now))  # its Stop
    rig.poll()
    assert rig.devices() == set()


def test_a_row_committed_late_is_caught_by_the_overlap_window() -> None:
    """Its changed_at is older than rows already seen: the next reach back finds it."""
    rig = Rig()
    rig.poll()
    rig.clock.advance(10)
    rig.store.commit(row("fast", member=BOB, station=LAPTOP, updated=rig.clock.now, row_id=2))
    rig.poll()
    assert rig.devices(BOB) == {LAPTOP}
    # Took its changed_at 3 s ago (before the row seen already), committed only now.
    rig.store.commit(row("slow", updated=rig.clock.now - 3, row_id=1))
    rig.clock.advance(0.25)
    rig.poll()
    assert rig.devices() == set()  # a plain poll starts at the latest change seen
    rig.clock.advance(OVERLAP_EVERY_SECONDS)
    rig.poll()
    assert rig.devices() == {PHONE}


def test_a_writer_clock_ahead_does_not_make_the_follower_skip_others() -> None:
    rig = Rig()
    rig.poll()
    rig.store.commit(row("ahead", member=BOB, updated=NOW + 120, row_id=2))  # clock 2 min ahead
    rig.clock.advance(0.25)
    rig.poll()
    rig.store.commit(row("normal", updated=rig.clock.now, row_id=3))
    rig.clock.advance(0.25)
    rig.poll()
    assert rig.devices() == {PHONE}
    assert rig.follower.highest == at(NOW + 120)


def test_a_batch_all_of_one_time_is_read_past(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale-close of many rows gives them one changed_at: the next read takes more."""
    monkeypatch.setattr(follower_module, "BATCH", 3)
    rig = Rig()
    rig.poll()
    closed_at = NOW + 1
    for i in range(8):
        rig.store.commit(row(f"s{i}", station=f"02:00:00:00:01:{i:02x}", updated=NOW, row_id=i))
    rig.clock.advance(0.5)
    rig.poll()  # within the window since the load: the 8 open rows, 3 at a time
    for _ in range(3):
        rig.clock.advance(0.25)
        rig.poll()
    assert len(rig.devices()) == 8
    for i in range(8):
        rig.store.commit(
            row(
                f"s{i}",
                station=f"02:00:00:00:01:{i:02x}",
                updated=NOW,
                stopped=NOW,
                changed=closed_at,
                row_id=i,
            )
        )
    for _ in range(4):
        rig.clock.advance(0.25)
        rig.poll()
    assert rig.devices() == set()


def test_an_unreachable_database_keeps_the_view_and_is_reported_once() -> None:
    rig = Rig()
    rig.store.commit(row("a"))
    rig.poll()
    rig.store.fail = True
    for _ in range(3):
        rig.clock.advance(1)
        rig.poll()
    assert rig.devices() == {PHONE}
    (degraded,) = rig.log.named("online_devices_degraded")
    assert degraded["error"] == "ConnectionError" and degraded["loaded"] is True
    rig.store.fail = False
    rig.store.commit(row("a", stopped=rig.clock.now))
    rig.clock.advance(OVERLAP_EVERY_SECONDS)
    rig.poll()
    assert rig.devices() == set()
    assert len(rig.log.named("online_devices_recovered")) == 1


def test_the_full_load_is_tried_again_until_it_works() -> None:
    rig = Rig()
    rig.store.fail = True
    rig.poll()
    assert not rig.follower.loaded
    rig.store.fail = False
    rig.store.commit(row("a"))
    rig.poll()
    assert rig.follower.loaded and rig.devices() == {PHONE}


def test_sessions_gone_silent_leave_the_view_even_while_nobody_closes_them() -> None:
    rig = Rig(view=OnlineDevices(silent_for=1320))
    rig.store.commit(row("a"))
    rig.poll()
    rig.store.fail = True  # the stale-session loop cannot close it either
    rig.clock.advance(1321)
    rig.poll()
    assert rig.devices() == set()
    assert rig.log.named("online_devices_expired")[0]["sessions"] == 1


def test_observe_rows_uses_the_later_of_last_update_and_stop() -> None:
    view = OnlineDevices()
    view.observe("a", ANA, PHONE, True, NOW + 10, ("lobby", None, None))
    # Closed as stale: stopped at its last update, which is older than what we know.
    observe_rows(view, [replace(row("a", updated=NOW, stopped=NOW))])
    assert set(view.stations(ANA, NOW)) == {PHONE}
    observe_rows(view, [row("a", updated=NOW, stopped=NOW + 20)])
    assert set(view.stations(ANA, NOW)) == set()


# -- the stale-session loop -------------------------------------------------------------


def upkeep(store: FakeStore, log: RecordingLog, view: OnlineDevices | None = None) -> SessionUpkeep:
    return SessionUpkeep(
        store,
        log,
        silent_for=stale_after(600, 120),
        retention_seconds=90 * 86400.0,
        deadline=5.0,
        on_closed=None if view is None else (lambda rows: observe_rows(view, rows)),
        clock=lambda: NOW,
    )


def test_stale_sessions_are_closed_logged_and_leave_the_view() -> None:
    store, log, view = FakeStore(), RecordingLog(), OnlineDevices()
    view.observe("a", ANA, PHONE, True, NOW - 2000, ("lobby", None, None))
    store.stale = [row("a", updated=NOW - 2000, stopped=NOW - 2000, changed=NOW)]
    store.pruned = 4
    asyncio.run(upkeep(store, log, view).run_once())
    assert ("close_stale", 1320.0) in store.calls
    assert ("prune", 90 * 86400.0) in store.calls
    (closed,) = log.named("session_stale_closed")
    assert closed["user"] == "ana@example.com"
    assert closed["nas"] == "lobby"
    assert closed["session_id"] == "a"
    assert closed["last_update"] == (at(NOW - 2000)).isoformat()
    assert log.named("sessions_pruned")[0]["count"] == 4
    assert set(view.stations(ANA, NOW)) == set()


def test_nothing_to_do_logs_nothing() -> None:
    store, log = FakeStore(), RecordingLog()
    asyncio.run(upkeep(store, log).run_once())
    assert log.events == []


def test_a_failing_round_is_reported_once_and_recovers() -> None:
    store, log = FakeStore(fail=True), RecordingLog()
    loop = upkeep(store, log)

    async def rounds() -> None:
        await loop.run_once()
        await loop.run_once()
        store.fail = False
        await loop.run_once()

    asyncio.run(rounds())
    assert [e["event"] for e in log.events] == ["session_upkeep_failed", "session_upkeep_recovered"]


def test_stale_after_is_two_intervals_and_the_grace() -> None:
    assert stale_after(600, 120) == 1320
    assert timedelta(seconds=stale_after(60, 30)) == timedelta(seconds=150)
