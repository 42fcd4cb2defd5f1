"""What SQLite's per-table wakeups cost (runtime/sqlite_watch.py, migration 0012).

On a temp file migrated to head with ``--rows`` rows in each followed table and in
``auth_decisions``:

- the watcher's look when nothing was committed (``PRAGMA data_version`` alone) and
  when something was (the marks statement), with ``--own`` of this server's own
  guessing-protection events since the last look (the guard's check scans them);
- what migration 0012's sessions triggers add to ``SessionStore.write`` (batches of
  Starts, then of Interim-Updates, as in ``session_store.py``), against new files
  without them.

    PYTHONPATH=. .venv/bin/python bench/sqlite_watch_cost.py [--rows 100000] [--batches 20]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from session_store import T0, record  # bench/, on sys.path when run as a script
from sqlalchemy import text

from radius_server.rules.accounting import StatusType
from radius_server.runtime.sqlite_watch import SqliteWatcher
from radius_server.store import database
from radius_server.store.sessions import SessionStore

AT = "2026-12-03 10:00:00"
ME = "host:1"
BATCH = 1000


def _filler(conn: sqlite3.Connection, table: str, rows: int) -> None:
    """``rows`` rows of filler (every NOT NULL column given a value of its type)."""
    columns = [r for r in conn.execute(f"PRAGMA table_info({table})") if not r[5]]

    def value(i: int, column: tuple) -> object:
        name, kind = column[1], column[2].upper()
        if name == "instance":
            return "host:2"
        if "INT" in kind or "BOOL" in kind:
            return i
        return AT if "DATE" in kind else f"{name}{i}"

    names = ",".join(c[1] for c in columns)
    marks = ",".join("?" * len(columns))
    with conn:
        conn.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 (our names)
            ([value(i, c) for c in columns] for i in range(rows)),
        )


def build(folder: Path, rows: int) -> Path:
    path = folder / "radius.db"
    engine = database.make_engine(f"sqlite:///{path}")
    database.upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    for table in ("changes", "throttle_events", "sessions", "disconnect_jobs", "auth_decisions"):
        _filler(conn, table, rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")  # one file: copies are whole
    conn.close()
    return path


def per_call_us(call: Callable[[], object], number: int) -> float:
    """Best of 5 runs of ``number`` calls, in microseconds per call."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def watcher_cost(path: Path, own: list[int]) -> None:
    watcher = SqliteWatcher(path, None, tick=0.25, instance=ME)
    version = per_call_us(watcher._version, 20000)
    marks = watcher._marks(None)
    again = per_call_us(lambda: watcher._marks(marks), 20000)
    print(f"look, nothing committed (PRAGMA data_version): {version:6.2f} us")
    print(f"look, something committed (marks statement):   {again:6.2f} us")
    writer = sqlite3.connect(path, isolation_level=None)
    for count in own:
        top = watcher._marks(None)
        with writer:
            writer.executemany(
                "INSERT INTO throttle_events (at, kind, user_key, known, instance) "
                "VALUES (?, 'failure', 'ana@example.com', 0, ?)",
                [(AT, ME)] * count,
            )
        moved = watcher._marks(top).moved_since(top)
        assert moved == set(), moved  # own events wake nobody
        cost = per_call_us(lambda top=top: watcher._marks(top), 2000)
        woken = moved or "nobody"
        print(f"look, {count:5d} own guessing events since last: {cost:6.2f} us (wakes {woken})")
    writer.close()
    watcher._close()


def trigger_cost(folder: Path, batches: int) -> None:
    """``SessionStore.write`` per record, as serve's accounting writer writes (one-row
    statements in one transaction per batch), on three new files: without migration
    0012's triggers, with them, and with them and the writer's temporary files in memory
    (what serve does: runtime/server.py)."""
    variants = ("no triggers", "triggers", "triggers, temp files in memory (serve)")
    stores = {}
    for n, variant in enumerate(variants):
        engine = database.make_engine(f"sqlite:///{folder / f'store{n}.db'}")
        if "memory" in variant:
            database.temp_files_in_memory(engine)
        database.upgrade(engine)
        if variant == "no triggers":
            with engine.begin() as conn:
                conn.execute(text("DROP TRIGGER sessions_mark_insert"))
                conn.execute(text("DROP TRIGGER sessions_mark_update"))
        stores[variant] = SessionStore(database.make_session_factory(engine))
    times: dict[str, dict[str, list[float]]] = {v: {"start": [], "interim": []} for v in variants}
    rng = random.Random(1)
    for b in range(batches):
        starts = [record(StatusType.START, b * BATCH + i, T0 + b) for i in range(BATCH)]
        interims = [
            record(StatusType.INTERIM_UPDATE, rng.randrange((b + 1) * BATCH), T0 + 600 + b, b + 1)
            for _ in range(BATCH)
        ]
        order = list(stores.items())
        rng.shuffle(order)  # a busy moment of the shared machine falls on any of them
        for variant, store in order:
            for scenario, batch, at in (
                ("start", starts, T0 + b),
                ("interim", interims, T0 + 600 + b),
            ):
                began = time.perf_counter()
                store.write(batch, at)
                times[variant][scenario].append(time.perf_counter() - began)
    print(f"SessionStore.write, us per record (median of {batches} batches of {BATCH}):")
    for variant in variants:
        cells = "  ".join(
            f"{scenario} {statistics.median(t) / BATCH * 1e6:6.1f}"
            for scenario, t in times[variant].items()
        )
        print(f"  {variant:40s} {cells}")
    for store in stores.values():
        store.sessions.kw["bind"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="radius-watch-bench-") as tmp:
        folder = Path(tmp)
        path = build(folder, args.rows)
        print(f"{args.rows:,} rows in each table, SQLite {sqlite3.sqlite_version}")
        watcher_cost(path, [10, 100, 1000])
        trigger_cost(folder, args.batches)


if __name__ == "__main__":
    main()
