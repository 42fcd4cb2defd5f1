"""SQLite's watcher (runtime/sqlite_watch.py): loops woken by a commit to their table,
not by the clock, and not by commits to other tables.

A real SQLite file with the real schema (migrated once, copied per test) and a real
second connection writing to it, as the admin CLI, the web pages or another worker do.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from radius_server.runtime.listener import (
    CHANGES,
    CHANNELS,
    DISCONNECTS,
    SESSIONS,
    THROTTLE,
    Wakeup,
)
from radius_server.runtime.sqlite_watch import SqliteWatcher
from radius_server.store import database

TICK = 0.02
# Generous for a loaded machine: a wait that ends early when its condition holds.
PATIENCE = 10.0
# How long a wakeup that should not come is waited for: many ticks.
QUIET = 10 * TICK
ME = "host:1"

# One row in each table, as its writers add them (any values the schema accepts).
INSERTS = {
    "changes": "INSERT INTO changes (entity, entity_id) VALUES ('customer', 1)",
    "disconnect_jobs": (
        "INSERT INTO disconnect_jobs (member_email, reason, requested_by, created_at) "
        "VALUES ('ana@example.com', 'admin', 'cli', '2026-12-03 10:00:00')"
    ),
    "sessions": (
        "INSERT INTO sessions (unique_key, client_name, nas_address, acct_session_id, "
        "user_name, started_at, updated_at, changed_at, session_time, input_octets, "
        "output_octets, input_packets, output_packets) "
        "VALUES (hex(randomblob(8)), 'ap', '10.0.0.1', 'S1', '', :at, :at, :at, 0, 0, 0, 0, 0)"
    ),
    "auth_decisions": (
        "INSERT INTO auth_decisions (at, user_name, client_name, outcome, reason, instance) "
        "VALUES (:at, 'ana@example.com', 'ap', 'accept', 'ok', 'host:1')"
    ),
}
# A guessing-protection event; its writer (``instance``) is a parameter.
THROTTLE_EVENT = (
    "INSERT INTO throttle_events (at, kind, user_key, known, instance) "
    "VALUES (:at, 'failure', 'ana@example.com', 0, :instance)"
)


def write(conn: sqlite3.Connection, sql: str, instance: str = ME) -> None:
    """One statement (autocommit unless inside BEGIN ... COMMIT)."""
    params = {"at": "2026-12-03 10:00:00", "instance": instance}
    conn.execute(sql, {k: v for k, v in params.items() if f":{k}" in sql})


class Events:
    """A log that keeps the event names."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **_fields: self.names.append(event)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file at the newest revision (migration 0012's marks included)."""
    path = tmp_path_factory.mktemp("schema") / "radius.db"
    engine = database.make_engine(f"sqlite:///{path}")
    database.upgrade(engine)
    engine.dispose()
    # One file, no WAL left beside it, so a copy is the whole database.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    return path


def _database(template: Path, path: Path) -> sqlite3.Connection:
    """A copy of ``template`` at ``path``, and a writer on it (autocommit, WAL)."""
    shutil.copy(template, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


async def _until(condition: Callable[[], bool]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(TICK / 2)
    return condition()


Script = Callable[[SqliteWatcher, dict[str, Wakeup], Events], Awaitable[None]]


def _watch(path: Path, script: Script) -> Events:
    """Run ``script`` with a started watcher and a wakeup per channel; stop it after."""
    log = Events()

    async def scenario() -> None:
        watcher = SqliteWatcher(path, log, tick=TICK, instance=ME)
        wakes = {channel: watcher.wakeup(channel, 0.25, 60) for channel in CHANNELS}
        watcher.start()
        try:
            await script(watcher, wakes, log)
        finally:
            await asyncio.to_thread(watcher.stop)
            await asyncio.sleep(TICK)  # the last log line, handed to the loop

    asyncio.run(scenario())
    return log


def _woken(wakes: dict[str, Wakeup]) -> set[str]:
    return {channel for channel, wake in wakes.items() if wake._event.is_set()}


def _clear(wakes: dict[str, Wakeup]) -> None:
    for wake in wakes.values():
        wake._event.clear()


async def _started(watcher: SqliteWatcher, wakes: dict[str, Wakeup]) -> None:
    """Started: listening (the loops wait for the safety interval), and every loop
    woken once for what was written before; then cleared."""
    assert await _until(lambda: _woken(wakes) == set(CHANNELS))
    assert watcher.listening and wakes[CHANGES].interval() == 60
    _clear(wakes)


async def _wakes_after(wakes: dict[str, Wakeup], expected: set[str]) -> set[str]:
    """Who was woken: ``expected`` once they all are, and whoever else within QUIET."""
    if expected:
        await _until(lambda: _woken(wakes) >= expected)
    await asyncio.sleep(QUIET)  # time for a wrong wakeup to show
    woken = _woken(wakes)
    _clear(wakes)
    return woken


def test_a_commit_wakes_only_the_loop_of_its_table(migrated: Path, tmp_path: Path) -> None:
    """Each followed table wakes its channel alone, as PostgreSQL's triggers notify."""
    path = tmp_path / "radius.db"
    writer = _database(migrated, path)

    async def script(watcher: SqliteWatcher, wakes: dict[str, Wakeup], log: Events) -> None:
        await _started(watcher, wakes)
        assert await _wakes_after(wakes, set()) == set()  # nothing committed: nobody
        write(writer, INSERTS["changes"])
        assert await _wakes_after(wakes, {CHANGES}) == {CHANGES}
        write(writer, INSERTS["disconnect_jobs"])
        assert await _wakes_after(wakes, {DISCONNECTS}) == {DISCONNECTS}
        write(writer, INSERTS["sessions"])
        assert await _wakes_after(wakes, {SESSIONS}) == {SESSIONS}
        # An update moves no key: migration 0012's trigger counts it.
        writer.execute("UPDATE sessions SET input_octets = input_octets + 1")
        assert await _wakes_after(wakes, {SESSIONS}) == {SESSIONS}
        write(writer, THROTTLE_EVENT, "host:2")
        assert await _wakes_after(wakes, {THROTTLE}) == {THROTTLE}
        # Two tables in one transaction: both.
        writer.execute("BEGIN")
        write(writer, INSERTS["changes"])
        write(writer, INSERTS["disconnect_jobs"])
        writer.execute("COMMIT")
        assert await _wakes_after(wakes, {CHANGES, DISCONNECTS}) == {CHANGES, DISCONNECTS}

    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]


def test_writes_nobody_follows_wake_nobody(migrated: Path, tmp_path: Path) -> None:
    """Recent decisions, this server's own guessing-protection events, a session deleted,
    a disconnect job claimed: the data version moves, no loop reads."""
    path = tmp_path / "radius.db"
    writer = _database(migrated, path)
    write(writer, INSERTS["sessions"])
    write(writer, INSERTS["disconnect_jobs"])

    async def script(watcher: SqliteWatcher, wakes: dict[str, Wakeup], log: Events) -> None:
        await _started(watcher, wakes)
        for _ in range(3):
            write(writer, INSERTS["auth_decisions"])
            assert await _wakes_after(wakes, set()) == set()
        # Own events, one by one and in a batch, wake nobody (as on PostgreSQL).
        write(writer, THROTTLE_EVENT)
        assert await _wakes_after(wakes, set()) == set()
        writer.execute("BEGIN")
        for _ in range(50):
            write(writer, THROTTLE_EVENT)
        writer.execute("COMMIT")
        assert await _wakes_after(wakes, set()) == set()
        # Another instance's among ours: the guard reads.
        writer.execute("BEGIN")
        write(writer, THROTTLE_EVENT)
        write(writer, THROTTLE_EVENT, "host:2")
        write(writer, THROTTLE_EVENT)
        writer.execute("COMMIT")
        assert await _wakes_after(wakes, {THROTTLE}) == {THROTTLE}
        write(writer, THROTTLE_EVENT)
        assert await _wakes_after(wakes, set()) == set()
        # As on PostgreSQL (INSERT OR UPDATE of sessions, INSERT of jobs): no wakeup.
        writer.execute("DELETE FROM sessions")
        writer.execute("UPDATE disconnect_jobs SET claimed_by = 'host:2'")
        assert await _wakes_after(wakes, set()) == set()

    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]


def test_a_missing_file_means_polling_until_it_appears(migrated: Path, tmp_path: Path) -> None:
    path = tmp_path / "later.db"

    async def script(watcher: SqliteWatcher, wakes: dict[str, Wakeup], log: Events) -> None:
        assert await _until(lambda: "watch_failed" in log.names)
        await asyncio.sleep(5 * TICK)
        assert not watcher.listening and wakes[CHANGES].interval() == 0.25  # the loops poll
        assert not path.exists()  # never created by the watcher
        _database(migrated, path).close()
        assert await _until(lambda: watcher.listening)
        assert await _until(lambda: _woken(wakes) == set(CHANNELS))

    log = _watch(path, script)
    # Once per outage, however many ticks it lasted.
    assert log.names == ["watch_failed", "watch_started", "watch_stopped"]


def test_a_file_without_the_marks_means_polling(tmp_path: Path) -> None:
    """A database not migrated to 0012 (no marks to read) is no database to watch:
    the loops poll every ``fast`` seconds, as without the watcher."""
    path = tmp_path / "old.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x INTEGER)").connection.close()

    async def script(watcher: SqliteWatcher, wakes: dict[str, Wakeup], log: Events) -> None:
        assert await _until(lambda: "watch_failed" in log.names)
        await asyncio.sleep(5 * TICK)
        assert not watcher.listening and wakes[SESSIONS].interval() == 0.25

    log = _watch(path, script)
    assert log.names == ["watch_failed"]


def _busy() -> sqlite3.OperationalError:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    return busy


@pytest.mark.parametrize("step", ["_version", "_marks"])
def test_a_busy_database_counts_as_changed(
    migrated: Path, tmp_path: Path, monkeypatch: Any, step: str
) -> None:
    """A lock held for a moment (on the version or on the marks) wakes every loop (they
    read with their own deadlines) and is no outage: no warning, still listening. The
    marks of the last good look stay, so the table written while busy wakes its loop
    once they can be read again, and then only writes wake anyone."""
    path = tmp_path / "radius.db"
    writer = _database(migrated, path)
    busy = {"on": False}
    real = getattr(SqliteWatcher, step)
    handovers: list[set[str] | None] = []
    hand_over = SqliteWatcher._hand_over

    def flaky(self: SqliteWatcher, *args: Any) -> Any:
        if busy["on"]:
            raise _busy()
        return real(self, *args)

    def record(self: SqliteWatcher, channels: set[str] | None) -> None:
        handovers.append(channels)
        hand_over(self, channels)

    async def script(watcher: SqliteWatcher, wakes: dict[str, Wakeup], log: Events) -> None:
        await _started(watcher, wakes)
        busy["on"] = True
        if step == "_marks":
            write(writer, INSERTS["auth_decisions"])  # the version moves: marks are read
        assert await _until(lambda: len(handovers) >= 3)  # every tick while busy
        assert watcher.listening and _woken(wakes) == set(CHANNELS)
        write(writer, INSERTS["changes"])
        busy["on"] = False
        assert await _until(lambda: {CHANGES} in handovers)
        write(writer, INSERTS["sessions"])
        assert await _until(lambda: {SESSIONS} in handovers)
        await asyncio.sleep(QUIET)

    monkeypatch.setattr(SqliteWatcher, step, flaky)
    monkeypatch.setattr(SqliteWatcher, "_hand_over", record)
    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]
    # Everybody at start and while busy; then each table's loop alone.
    everybody = handovers.index({CHANGES})
    assert everybody >= 3 and handovers[:everybody] == [None] * everybody
    assert handovers[everybody:] == [{CHANGES}, {SESSIONS}]


def test_a_path_with_uri_characters_is_watched(migrated: Path, tmp_path: Path) -> None:
    """The file is opened as a URI: "?", "#" and "%" in its path are quoted, not parsed."""
    folder = tmp_path / "a?b#c%20d"
    folder.mkdir()
    path = folder / "radius.db"
    writer = _database(migrated, path)

    async def script(watcher: SqliteWatcher, wakes: dict[str, Wakeup], log: Events) -> None:
        await _started(watcher, wakes)
        write(writer, INSERTS["changes"])
        assert await _wakes_after(wakes, {CHANGES}) == {CHANGES}

    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]
