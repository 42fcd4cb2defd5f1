"""SQLite's watcher (runtime/sqlite_watch.py): loops woken by a commit, not by the clock.

A real SQLite file and a real second connection writing to it, as the admin CLI does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from radius_server.runtime.listener import CHANGES, SESSIONS, Wakeup
from radius_server.runtime.sqlite_watch import SqliteWatcher

TICK = 0.02
# Generous for a loaded machine: a wait that ends early when its condition holds.
PATIENCE = 10.0


class Events:
    """A log that keeps the event names."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **_fields: self.names.append(event)


def _database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return conn


async def _until(condition: Callable[[], bool]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(TICK / 2)
    return condition()


def _watch(
    path: Path, script: Callable[[SqliteWatcher, list[Wakeup], Events], Awaitable[None]]
) -> Events:
    """Run ``script`` with a started watcher and two registered wakeups; stop it after."""
    log = Events()

    async def scenario() -> None:
        watcher = SqliteWatcher(path, log, tick=TICK)
        wakes = [
            watcher.wakeup(CHANGES, 0.25, 60),
            watcher.wakeup(SESSIONS, 0.25, 60, min_gap=0.25),
        ]
        watcher.start()
        try:
            await script(watcher, wakes, log)
        finally:
            await asyncio.to_thread(watcher.stop)
            await asyncio.sleep(TICK)  # the last log line, handed to the loop

    asyncio.run(scenario())
    return log


def _woken(wake: Wakeup) -> bool:
    return wake._event.is_set()


def _clear(wakes: list[Wakeup]) -> None:
    for wake in wakes:
        wake._event.clear()


def test_a_commit_wakes_every_loop_and_quiet_wakes_none(tmp_path: Path) -> None:
    path = tmp_path / "radius.db"
    writer = _database(path)

    async def script(watcher: SqliteWatcher, wakes: list[Wakeup], log: Events) -> None:
        # Started: listening (the loops wait for the safety interval), and every loop
        # reads once for what was written before.
        assert await _until(lambda: all(_woken(w) for w in wakes))
        assert watcher.listening and wakes[0].interval() == 60
        _clear(wakes)
        await asyncio.sleep(10 * TICK)
        assert not any(_woken(w) for w in wakes)  # nothing committed: nobody reads
        writer.execute("INSERT INTO t VALUES (1)")
        assert await _until(lambda: all(_woken(w) for w in wakes))
        _clear(wakes)
        await asyncio.sleep(10 * TICK)
        assert not any(_woken(w) for w in wakes)

    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]


def test_a_missing_file_means_polling_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "later.db"

    async def script(watcher: SqliteWatcher, wakes: list[Wakeup], log: Events) -> None:
        assert await _until(lambda: "watch_failed" in log.names)
        await asyncio.sleep(5 * TICK)
        assert not watcher.listening and wakes[0].interval() == 0.25  # the loops poll
        assert not path.exists()  # never created by the watcher
        _database(path).close()
        assert await _until(lambda: watcher.listening)
        assert await _until(lambda: all(_woken(w) for w in wakes))

    log = _watch(path, script)
    # Once per outage, however many ticks it lasted.
    assert log.names == ["watch_failed", "watch_started", "watch_stopped"]


def test_a_busy_database_counts_as_changed(tmp_path: Path, monkeypatch: Any) -> None:
    """A lock held for a moment wakes the loops (they read with their own deadlines)
    and is no outage: no warning, still listening."""
    path = tmp_path / "radius.db"
    _database(path).close()
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    calls = {"n": 0}
    real = SqliteWatcher._version

    def flaky(self: SqliteWatcher) -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise busy
        return real(self)

    async def script(watcher: SqliteWatcher, wakes: list[Wakeup], log: Events) -> None:
        assert await _until(lambda: calls["n"] >= 3)
        _clear(wakes)
        assert await _until(lambda: all(_woken(w) for w in wakes))
        assert watcher.listening

    monkeypatch.setattr(SqliteWatcher, "_version", flaky)
    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]


def test_a_path_with_uri_characters_is_watched(tmp_path: Path) -> None:
    """The file is opened as a URI: "?", "#" and "%" in its path are quoted, not parsed."""
    folder = tmp_path / "a?b#c%20d"
    folder.mkdir()
    path = folder / "radius.db"
    writer = _database(path)

    async def script(watcher: SqliteWatcher, wakes: list[Wakeup], log: Events) -> None:
        assert await _until(lambda: watcher.listening)
        _clear(wakes)
        writer.execute("INSERT INTO t VALUES (1)")
        assert await _until(lambda: all(_woken(w) for w in wakes))

    log = _watch(path, script)
    assert log.names == ["watch_started", "watch_stopped"]
