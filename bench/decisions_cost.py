"""What recording recent decisions costs, in numbers a shared machine cannot move much.

    .venv/bin/python bench/decisions_cost.py [--requests 2000] [--rows 30000]
                                             [--skip-pg | --only-pg]

``run.py --decisions both`` measures the whole server with recording on and off, but on
a busy two-core machine its CPU per request swings by 20% or more between runs. This
splits the cost into its parts and counts what can be counted:

1. **The hot path**: ``engine_micro.py``'s engine (PAP accepts through
   ``Engine.handle_auth``) under ``valgrind --tool=callgrind``, without and with
   ``record_decision`` (the queue's append). Instructions per request, as in
   ``engine_instructions.py`` (a run that only builds the requests is subtracted).
2. **The writer's Python side, per row**: turning entries into rows
   (``rules/decision_log.to_rows``, member ids from a dict) and the batch's JSON
   parameter, also counted by valgrind.
3. **PostgreSQL, per row**: the backend's CPU time (``/proc/PID/stat``) for
   ``DecisionStore.write`` in batches of 1,000 on a throw-away database (10,000
   members): the INSERT alone, and with every row's member's last sign-in moved.
   CPU time, not instructions: noisier, but it is another process.

Needs valgrind (Debian package ``valgrind``) and, for 3, the PostgreSQL of the tests
(127.0.0.1:5432, trust).
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve()
CHECKOUT = HERE.parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def child(mode: str, count: int) -> None:
    """Under valgrind: the work of one case (``mode``), ``count`` times."""
    sys.path.insert(0, str(CHECKOUT))
    if mode.startswith("engine"):
        micro = runpy.run_path(str(HERE.parent / "engine_micro.py"), run_name="engine_micro")
        engine = micro["build"]()
        packets = micro["requests"](count, "pap")
        if mode == "engine-on":
            from radius_server.rules.decision_log import DecisionQueue

            engine.record_decision = DecisionQueue(10 * count).append

        if mode != "engine-build":
            for port, packet in enumerate(packets):
                assert engine.handle_auth(packet, (micro["NAS"], 1024 + port)) is not None
        return
    import json

    from radius_server.rules.decision_log import to_rows

    ids = {f"member{i}@example.org": i for i in range(10_000)}
    station = "AA-BB-CC-DD-EE-FF"
    entries = [
        (1.9e9 + i, f"member{i % 10_000}@example.org", "lobby", station, "pap", "accept", "ok", "-")
        for i in range(count)
    ]
    if mode == "rows":
        json.dumps(to_rows(entries, ids.get))


def instructions(mode: str, count: int) -> int:
    """Instructions valgrind counted for one child run."""
    argv = [sys.executable, str(HERE), "--child", mode, str(count)]
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed: {done.stderr[-2000:]}")
    return int(found.group(1))


def postgresql_per_row(rows_count: int) -> dict[str, float]:
    """The PostgreSQL backend's CPU microseconds per row: insert only, insert + sign-ins."""
    import psycopg
    from sqlalchemy import text

    from radius_server.rules.decision_log import DecisionRow
    from radius_server.store import database
    from radius_server.store.decisions import DecisionStore

    name = "decisions_cost_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            setup = database.make_engine(url)
            database.upgrade(setup)
            with setup.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO customers (email, full_name, pin, active, wifi_access) "
                        "SELECT 'member' || g || '@example.org', '', lpad(g::text, 5, '0'), "
                        "true, true FROM generate_series(1, 10000) AS g"
                    )
                )
            setup.dispose()
            engine = database.make_engine(url, pool_size=1, max_overflow=0)
            store = DecisionStore(database.make_session_factory(engine))
            with engine.connect() as connection:
                backend = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
            rows = [
                DecisionRow(
                    1.9e9 + i,
                    f"member{i % 10_000 + 1}@example.org",
                    i % 10_000 + 1,
                    "lobby",
                    "AA-BB-CC-DD-EE-FF",
                    "pap",
                    "accept",
                    "ok",
                    "default",
                )
                for i in range(rows_count)
            ]
            result = {}
            for label, moved in (("insert", False), ("insert + last sign-in", True)):
                before = _cpu_seconds(backend)
                ours = 0.0
                for start in range(0, rows_count, 1000):
                    batch = rows[start : start + 1000]
                    # Later each round, so every member's sign-in really moves.
                    sign_ins = {r.customer_id: r.at + 1e6 for r in batch} if moved else {}
                    began = time.thread_time()
                    store.write(batch, "bench:1", sign_ins)  # type: ignore[misc]
                    ours += time.thread_time() - began
                result[label] = (_cpu_seconds(backend) - before) / rows_count * 1e6
                # The writer thread's own CPU (the server's "decisions_0"): SQLAlchemy,
                # psycopg, JSON; thread CPU time, so other processes do not count.
                result[f"{label}, writer thread (ours)"] = ours / rows_count * 1e6
            engine.dispose()
            return result
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    """Print the three measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--skip-pg", action="store_true", help="only the valgrind counts")
    parser.add_argument("--only-pg", action="store_true", help="only the database part (3)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    n = args.requests
    if args.only_pg:
        for label, value in postgresql_per_row(args.rows).items():
            who = "this process" if "ours" in label else "PostgreSQL backend"
            print(f"{who}, CPU per row, {label}: {value:.1f} us")
        return 0
    built = instructions("engine-build", n)
    off = (instructions("engine-off", n) - built) / n
    on = (instructions("engine-on", n) - built) / n
    print(f"engine, instructions per request: recording off {off:,.0f}, on {on:,.0f} ", end="")
    print(f"(+{on - off:,.0f}, {100 * (on - off) / off:+.1f}%)")
    rows = (instructions("rows", n) - instructions("entries", n)) / n
    print(f"writer, instructions per row (to_rows + JSON): {rows:,.0f}")
    if not args.skip_pg:
        for label, value in postgresql_per_row(args.rows).items():
            who = "this process" if "ours" in label else "PostgreSQL backend"
            print(f"{who}, CPU per row, {label}: {value:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
