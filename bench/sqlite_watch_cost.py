"""What SQLite's per-table wakeups cost (runtime/sqlite_watch.py, migration 0012).

On a temp file migrated to head with ``--rows`` rows in each followed table and in
``auth_decisions``:

- the watcher's look when nothing was committed (``PRAGMA data_version`` alone) and
  when something was (the marks statement), with ``--own`` of this server's own
  guessing-protection events since the last look (the guard's check scans them);
- what migration 0012's sessions triggers add per row written, on the statement
  shapes the session store uses on SQLite (one multi-row upsert per batch inserting,
  then updating, rows; an UPDATE of many rows), against the same file without them.

    PYTHONPATH=. .venv/bin/python bench/sqlite_watch_cost.py [--rows 100000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from radius_server.runtime.sqlite_watch import SqliteWatcher
from radius_server.store import database

AT = "2026-12-03 10:00:00"
ME = "host:1"
BATCH = 500


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


def _session_rows(columns: list[str], tag: str, counter: int) -> list[object]:
    def value(name: str, i: int) -> object:
        if name == "unique_key":
            return f"{tag}_{i}"
        if name.endswith(("octets", "packets", "port", "time", "id")):
            return counter
        return AT if name.endswith("_at") else "x"

    return [value(name, i) for i in range(BATCH) for name in columns]


def trigger_cost(path: Path, folder: Path, rounds: int) -> None:
    conns = {}
    for variant in ("without triggers", "with triggers"):
        copy = folder / f"{variant.replace(' ', '_')}.db"
        shutil.copy(path, copy)
        conn = sqlite3.connect(copy, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        if variant == "without triggers":
            conn.execute("DROP TRIGGER sessions_mark_insert")
            conn.execute("DROP TRIGGER sessions_mark_update")
        conns[variant] = conn
    columns = [r[1] for r in next(iter(conns.values())).execute("PRAGMA table_info(sessions)")]
    columns = [c for c in columns if c != "id"]
    one = "(" + ",".join("?" * len(columns)) + ")"
    upsert = (
        f"INSERT INTO sessions ({','.join(columns)}) VALUES {','.join([one] * BATCH)} "  # noqa: S608
        "ON CONFLICT(unique_key) DO UPDATE SET input_octets = excluded.input_octets "
        "WHERE input_octets IS NOT excluded.input_octets"
    )
    top = int(next(iter(conns.values())).execute("SELECT max(id) FROM sessions").fetchone()[0])
    # The same BATCH rows every time (the upserts add rows after them).
    update = f"UPDATE sessions SET output_octets = ? WHERE id > {top - BATCH} AND id <= {top}"  # noqa: S608

    def timed(conn: sqlite3.Connection, sql: str, params: object) -> float:
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(sql, params)
        conn.execute("COMMIT")
        return time.perf_counter() - start

    times: dict[str, dict[str, list[float]]] = {v: {} for v in conns}
    for n in range(rounds):  # interleaved: a busy moment costs both alike
        for variant, conn in conns.items():
            shapes = times[variant]
            new = _session_rows(columns, f"r{n}", 1)
            changed = _session_rows(columns, f"r{n}", 2)
            shapes.setdefault("upsert inserting", []).append(timed(conn, upsert, new))
            shapes.setdefault("upsert updating", []).append(timed(conn, upsert, changed))
            shapes.setdefault("update", []).append(timed(conn, update, (n,)))
    print(f"sessions written, us per row (median of {rounds} batches of {BATCH}):")
    for shape in times["with triggers"]:
        without = statistics.median(times["without triggers"][shape]) / BATCH * 1e6
        with_ = statistics.median(times["with triggers"][shape]) / BATCH * 1e6
        print(f"  {shape:18s} {without:6.2f} -> {with_:6.2f}  ({with_ - without:+.2f})")
    for conn in conns.values():
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="radius-watch-bench-") as tmp:
        folder = Path(tmp)
        path = build(folder, args.rows)
        print(f"{args.rows:,} rows in each table, SQLite {sqlite3.sqlite_version}")
        watcher_cost(path, [10, 100, 1000])
        trigger_cost(path, folder, args.rounds)


if __name__ == "__main__":
    main()
