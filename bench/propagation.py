"""PIN-change propagation across server instances, and a running server's idle CPU.

    .venv/bin/python bench/propagation.py [--instances 2] [--changes 100] [--idle 30]

Creates its own PostgreSQL database (``radius_bench_propagation``: one probed member
and ``--members`` others, imported with the CLI), starts ``--instances`` real
``radius-server serve`` processes on it, and changes the probed member's PIN
``--changes`` times through the admin layer (``Admin.customers.set_pin``, the call
behind ``customer set-pin`` and the HTTP API). For each change it measures the time
from just before the call until every instance accepts the new PIN and refuses the
old one, polling each instance with real Access-Requests (``loadgen.py``'s
encoder, checked against ``radius_server.protocol.client``): p50, p99 and max.
Twice: with notifications (``sync_notify`` on: LISTEN/NOTIFY, the default) and
polling only (``sync_notify`` off: every ``sync_interval``, 0.25 s).

Before the changes each instance sits idle for ``--idle`` seconds: its CPU
(utime+stime from /proc, all threads) and that of the PostgreSQL backends of the
database. With ``--sqlite`` (default on) the same idle reading for one server
on SQLite, which always polls. Cleans up after itself (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    VENV_BIN,
    cpu_delta,
    format_table,
    free_udp_ports,
    fresh_database,
    log,
    pg_url,
    postgres_backend_cpu,
    run_cli,
    scratch_dir,
    start_process,
    stop_process,
    tree_cpu_seconds,
)
from loadgen import Credential, LoadGenerator

DB_NAME = "radius_bench_propagation"
SECRET = "bench-shared-secret-0123456789"
PROBED = "probed@bench.test"
ACCEPT, REJECT = 2, 3
# Budgets out of reach: the probes' wrong PINs (the new one before it arrives, the old
# one after) must stay plain rejects, never a lockout.
UNLIMITED = str(10**9)


def _env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIUS_")}
    env.update(
        RADIUS_CONFIG=os.devnull,
        RADIUS_DATABASE_URL=url,
        RADIUS_DATA_DIR=str(data_dir),
        RADIUS_LOG_FORMAT="json",
        RADIUS_LOG_LEVEL="info",
        RADIUS_REJECT_DELAY="0",
        RADIUS_METRICS_PORT="0",  # any free port: instances side by side must not collide
    )
    for scope in ("USER", "DEVICE", "STATION", "LOCATION", "GLOBAL"):
        env[f"RADIUS_THROTTLE_{scope}_BUDGET"] = UNLIMITED
    env.update(extra)
    return env


def _pins(count: int, seed: int) -> list[str]:
    from radius_server.rules.pins import drawable

    return random.Random(seed).sample(drawable(), count)


def prepare(env: dict[str, str], workdir: Path, members: int, pins: list[str]) -> None:
    """Schema, the client 127.0.0.1, the probed member (PIN ``pins[0]``) and ``members``
    others (CLI), whose PINs are none of ``pins``."""
    from radius_server.rules.pins import drawable

    pin = pins[0]
    run_cli(env, "db", "upgrade")
    run_cli(env, "nas", "add", "bench", "--address", "127.0.0.1", "--secret", SECRET)
    run_cli(env, "customer", "add", PROBED, "--pin", pin)
    if members:
        path = workdir / "members.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "name", "pin"])
            taken = set(pins)
            free = [p for p in drawable() if p not in taken]
            for i, other in enumerate(random.Random(7).sample(free, members)):
                writer.writerow([f"member{i:06d}@bench.test", "", other])
        run_cli(env, "customer", "import", str(path))


@dataclass
class Instance:
    """One running ``serve``."""

    process: subprocess.Popen[bytes]
    port: int
    logfile: Path
    prober: LoadGenerator = field(init=False)


@contextlib.contextmanager
def instances(
    env: dict[str, str], workdir: Path, count: int, label: str
) -> Iterator[list[Instance]]:
    """``count`` servers on free ports, each with its own data directory; stopped after."""
    started: list[Instance] = []
    try:
        for n in range(count):
            auth, acct = free_udp_ports(2)
            logfile = workdir / f"serve-{label}-{n}.log"
            argv = [str(VENV_BIN / "radius-server"), "serve", "--host", "127.0.0.1"]
            argv += ["--auth-port", str(auth), "--acct-port", str(acct)]
            own = dict(env, RADIUS_DATA_DIR=str(workdir / f"data-{label}-{n}"))
            started.append(Instance(start_process(argv, logfile, env=own), auth, logfile))
        for inst in started:
            inst.prober = LoadGenerator(
                ("127.0.0.1", inst.port), SECRET.encode(), [Credential(PROBED, "0")], sockets=1
            )
        yield started
    finally:
        for inst in started:
            with contextlib.suppress(AttributeError):
                inst.prober.close()
            stop_process(inst.process)


def _answer(inst: Instance, pin: str) -> int | None:
    return inst.prober.probe(Credential(PROBED, pin), wait=1.0)


def wait_accepts(group: list[Instance], pin: str, seconds: float = 60.0) -> None:
    """Until every instance accepts ``pin`` (started and loaded)."""
    deadline = time.monotonic() + seconds
    for inst in group:
        while _answer(inst, pin) != ACCEPT:
            if inst.process.poll() is not None or time.monotonic() > deadline:
                tail = inst.logfile.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"a server did not become ready; its log ends:\n{tail}")
            time.sleep(0.2)


def idle_cpu(group: list[Instance], seconds: float, pg_database: str | None) -> tuple[float, float]:
    """(server CPU % of one core, mean per instance; PostgreSQL backends' CPU %) idle."""
    time.sleep(2.0)  # start-up work (snapshot write, first safety reads) settles
    before = [tree_cpu_seconds(i.process.pid) for i in group]
    pg_before = postgres_backend_cpu(pg_database) if pg_database else {}
    time.sleep(seconds)
    after = [tree_cpu_seconds(i.process.pid) for i in group]
    pg_after = postgres_backend_cpu(pg_database) if pg_database else {}
    server = statistics.mean(b - a for a, b in zip(before, after, strict=True))
    return 100 * server / seconds, 100 * cpu_delta(pg_before, pg_after) / seconds


def _until_switched(inst: Instance, new: str, old: str, start: float, out: list[float]) -> None:
    """Probe until ``new`` is accepted and ``old`` refused; append the seconds since ``start``."""
    limit = start + 30.0
    while time.perf_counter() < limit:
        # The old PIN only once the new one is in: half the probes, on a shared machine.
        if _answer(inst, new) == ACCEPT and _answer(inst, old) == REJECT:
            out.append(time.perf_counter() - start)
            return
        time.sleep(0.002)
    out.append(float("inf"))


def propagation(
    group: list[Instance],
    pins: list[str],
    settings_url: str,
    committed: list[float],
    walls: list[tuple[float, float]],
) -> list[float]:
    """Change the probed member's PIN through each of ``pins``; the seconds each took to
    reach every instance (the slowest instance per change). ``committed`` receives the
    seconds each ``set_pin`` call took (its part of the total), ``walls`` the wall-clock
    (call, return) of each, to read the servers' logs against."""
    from radius_server.admin import Admin
    from radius_server.config import Settings

    admin = Admin.open(Settings(database_url=settings_url), "bench")
    rng = random.Random(3)
    delays: list[float] = []
    try:
        for old, new in itertools.pairwise(pins):
            # A random pause: changes land anywhere within a poll interval.
            time.sleep(rng.uniform(0.05, 0.3))
            reached: list[float] = []
            wall, start = time.time(), time.perf_counter()
            admin.customers.set_pin(PROBED, new)
            committed.append(time.perf_counter() - start)
            walls.append((wall, time.time()))
            probes = [
                threading.Thread(target=_until_switched, args=(i, new, old, start, reached))
                for i in group
            ]
            for probe in probes:
                probe.start()
            for probe in probes:
                probe.join()
            delays.append(max(reached))
    finally:
        admin.close()
    return delays


def applied_after_commit(logs: list[Path], walls: list[tuple[float, float]]) -> list[float]:
    """Per change, seconds from the set_pin call's return to the latest server's
    ``customers_updated`` log line (its own clock, the same machine's): the server side
    alone, without the probes' round trips and scheduling."""
    stamps = []
    for path in logs:
        times = []
        for line in path.read_text(errors="replace").splitlines():
            if '"customers_updated"' not in line:
                continue
            with contextlib.suppress(ValueError, KeyError):
                event = json.loads(line)
                times.append(datetime.fromisoformat(event["timestamp"]).timestamp())
        stamps.append(sorted(times))
    delays = []
    for called, returned in walls:
        per_server = [next((t for t in times if t >= called), float("inf")) for times in stamps]
        delays.append(max(per_server) - returned)
    return delays


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Row:
    """One mode's numbers."""

    mode: str
    instances: int
    changes: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    idle_cpu_pct: float = float("nan")
    idle_pg_pct: float = float("nan")
    set_pin_ms: float = float("nan")  # median time of the admin call itself
    # From the call's return (after its commit) rather than from the call.
    commit_p50_ms: float = float("nan")
    commit_p99_ms: float = float("nan")
    # From the call's return to the servers' customers_updated log lines.
    applied_p50_ms: float = float("nan")
    applied_p99_ms: float = float("nan")


def measure(
    workdir: Path,
    *,
    instance_count: int = 2,
    changes: int = 100,
    idle: float = 30.0,
    members: int = 1000,
    sqlite: bool = True,
) -> list[Row]:
    """The whole phase on its own database (created and dropped here); one Row per mode."""
    pins = _pins(changes + 1, seed=11)
    url = pg_url(DB_NAME)
    rows: list[Row] = []
    with fresh_database(DB_NAME):
        base = _env(url, workdir / "cli")
        prepare(base, workdir, members, pins)
        for mode, notify in (("push (LISTEN/NOTIFY)", "true"), ("poll (0.25 s)", "false")):
            env = dict(base, RADIUS_SYNC_NOTIFY=notify)
            label = "push" if notify == "true" else "poll"
            with instances(env, workdir, instance_count, label) as group:
                current = _current_pin(url)
                wait_accepts(group, current)
                row = Row(mode, instance_count)
                if idle > 0:
                    log(f"propagation {label}: {instance_count} servers idle for {idle:g} s")
                    row.idle_cpu_pct, row.idle_pg_pct = idle_cpu(group, idle, DB_NAME)
                if changes:
                    log(f"propagation {label}: {changes} PIN changes")
                    sequence = [current, *[p for p in pins if p != current][:changes]]
                    committed: list[float] = []
                    walls: list[tuple[float, float]] = []
                    delays = propagation(group, sequence, url, committed, walls)
                    row.set_pin_ms = 1000 * statistics.median(committed)
                    after = [d - c for d, c in zip(delays, committed, strict=True)]
                    row.commit_p50_ms = 1000 * _percentile(after, 50)
                    row.commit_p99_ms = 1000 * _percentile(after, 99)
                    row.changes = len(delays)
                    row.p50_ms = 1000 * _percentile(delays, 50)
                    row.p99_ms = 1000 * _percentile(delays, 99)
                    row.max_ms = 1000 * max(delays)
            if changes:
                # After the servers stopped: every log line is written.
                applied = applied_after_commit([i.logfile for i in group], walls)
                row.applied_p50_ms = 1000 * _percentile(applied, 50)
                row.applied_p99_ms = 1000 * _percentile(applied, 99)
            rows.append(row)
    if sqlite and idle > 0:
        lite = workdir / "sqlite"
        env = _env(f"sqlite:///{lite / 'radius.db'}", lite)
        prepare(env, workdir, 0, pins[:1])
        with instances(env, workdir, 1, "sqlite") as group:
            wait_accepts(group, pins[0])
            log(f"propagation sqlite: 1 server idle for {idle:g} s")
            row = Row("SQLite (watched)", 1)
            row.idle_cpu_pct, _ = idle_cpu(group, idle, None)
            rows.append(row)
    return rows


def _current_pin(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    text("SELECT pin FROM customers WHERE email = :e"), {"e": PROBED}
                ).scalar()
            )
    finally:
        engine.dispose()


def report(rows: list[Row]) -> str:
    """The table."""

    def num(value: float, digits: int = 1) -> str:
        return "-" if value != value else f"{value:.{digits}f}"  # NaN: not measured

    table = [
        [
            "mode",
            "servers",
            "changes",
            "p50 ms",
            "p99 ms",
            "max ms",
            "set_pin ms (p50)",
            "after commit p50",
            "p99",
            "applied (log) p50",
            "p99",
            "idle CPU %/server",
            "idle PG backends %",
        ]
    ]
    for r in rows:
        table.append(
            [
                r.mode,
                str(r.instances),
                str(r.changes or "-"),
                num(r.p50_ms),
                num(r.p99_ms),
                num(r.max_ms),
                num(r.set_pin_ms),
                num(r.commit_p50_ms),
                num(r.commit_p99_ms),
                num(r.applied_p50_ms),
                num(r.applied_p99_ms),
                num(r.idle_cpu_pct, 3),
                num(r.idle_pg_pct, 3),
            ]
        )
    return format_table(table)


def main(argv: list[str] | None = None) -> int:
    """Standalone: measure and print the table; 1 if a change never arrived."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2, help="servers (2)")
    parser.add_argument("--changes", type=int, default=100, help="PIN changes per mode (100)")
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds measured (30)")
    parser.add_argument("--members", type=int, default=1000, help="other members (1000)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite idle reading")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    load = os.getloadavg()
    with scratch_dir("radius-propagation-", args.keep) as workdir:
        try:
            rows = measure(
                workdir,
                instance_count=args.instances,
                changes=args.changes,
                idle=args.idle,
                members=args.members,
                sqlite=not args.no_sqlite,
            )
        except KeyboardInterrupt:
            log("interrupted: cleaning up")
            return 130
    print()
    print(
        f"PIN-change propagation: time until every server accepts the new PIN and refuses "
        f"the old; {os.cpu_count()} CPUs, load average {load[0]:.2f} at start"
    )
    print(report(rows))
    return 1 if any(r.max_ms == float("inf") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
