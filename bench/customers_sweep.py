"""The customers sweep: start-up, memory, one change and a full reload at 10k, 100k, 1M members.

    .venv/bin/python bench/customers_sweep.py --customers 10000,100000,1000000

For each size: a database of its own (``radius_bench_sweep``, dropped first and
at the end) seeded with COPY (seconds for a million rows, unlike the import
CLI), one ``radius-server serve``, and these readings:

- **ready**: seconds from starting the process to its first Access-Accept
  (interpreter start and imports included), and the full load as the server
  logged it (``directory_loaded``);
- **RSS**: ``VmRSS`` once ready and settled, and ``VmHWM`` (the peak) from ``/proc``;
- **change**: seconds from the commit of one PIN change (row + change feed entry)
  to the first Access-Accept with the new PIN (the poll interval included);
- **reload**: a steady open-loop PAP load (``--rate``) runs while the database
  is taken away (``ALTER DATABASE ... ALLOW_CONNECTIONS false`` and
  ``pg_terminate_backend`` on the sweep database only), the server goes
  degraded, the database comes back, and the server reloads everything. The
  latencies of every request from the outage to the end of the reload, and the
  errors (unanswered or wrong answers), are reported.

PINs: ``customers.pin`` is UNIQUE and five digits, so one directory holds at
most 100,000 members with distinct PINs. Above 100,000 the sweep **drops that
unique constraint on its own bench database** and PINs repeat (member ``i`` has
PIN number ``i mod 100,000``): the server keys its view by email and id only,
never by PIN, so this measures its capacity honestly; it is not a product
configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Target,
    cpu_seconds,
    format_table,
    free_udp_ports,
    log,
    start_process,
    stop_process,
)
from loadgen import Credential, LoadGenerator, percentiles

VENV_BIN = Path(sys.executable).parent
DB_NAME = "radius_bench_sweep"
PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
SECRET = "bench-sweep-secret-0123456789"
DOMAIN = "sweep.test"
DISTINCT_PINS = 100_000
DEFAULT_RATE = 500.0  # requests/s of the load during the reload


@dataclass(slots=True)
class SweepRow:
    """What one size measured (seconds, MiB, milliseconds)."""

    customers: int
    pins_unique: bool
    label: str = "ours"
    seed_s: float = 0.0
    ready_s: float = 0.0
    ready_cpu_s: float = 0.0  # the server's CPU (all threads) until ready: robust to a busy box
    load_ms: float = 0.0  # the server's own directory_loaded - start, from its log
    rss_mb: float = 0.0
    hwm_mb: float = 0.0
    change_s: float = 0.0
    reload_s: float = 0.0  # recovered -> directory_loaded (from the database) again
    reload_requests: int = 0
    reload_errors: int = 0
    reload_p50_ms: float = 0.0
    reload_p99_ms: float = 0.0
    reload_max_ms: float = 0.0
    steady_p99_ms: float = 0.0  # the same load before the outage
    hwm_after_reload_mb: float = 0.0
    rss_before_outage_mb: float = 0.0  # after the steady load ran 3 s (its own memory in)
    rss_after_reload_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


# -- database ----------------------------------------------------------------------------


def _connect(dbname: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def admin_sql(statement: str) -> None:
    """One statement on the admin database (never on another bench's database)."""
    with _connect(PG_ADMIN_DB) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def database_url() -> str:
    """SQLAlchemy URL of the sweep database."""
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}"


def server_env(workdir: Path) -> dict[str, str]:
    """Our environment without RADIUS_* leaking in, plus the bench settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIUS_")}
    env.update(
        RADIUS_DATABASE_URL=database_url(),
        RADIUS_LOG_FORMAT="json",
        RADIUS_LOG_LEVEL="info",
        RADIUS_REJECT_DELAY="0",
        RADIUS_METRICS_PORT="0",  # any free port: instances side by side must not collide
        RADIUS_DATA_DIR=str(workdir / "data"),
        # Off: the change probe sends the new PIN until it is accepted, which
        # guessing protection would (rightly) count against the member.
        RADIUS_THROTTLE_ENABLED="false",
    )
    return env


def cli(workdir: Path, *args: str) -> None:
    """``radius-server ARGS`` against the sweep database."""
    import subprocess

    done = subprocess.run(
        [str(VENV_BIN / "radius-server"), *args],
        env=server_env(workdir),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"radius-server {' '.join(args)} failed: {done.stderr.strip()}")


def pin_of(index: int, order: list[int]) -> str:
    """Member ``index``'s PIN: a shuffled 00000..99999, repeating above 100,000 members."""
    return f"{order[index % DISTINCT_PINS]:05d}"


def seed(count: int, workdir: Path) -> tuple[list[Credential], bool]:
    """Schema by ``db upgrade``, ``count`` customers by COPY, one client; (probe sample, unique)."""
    cli(workdir, "db", "upgrade")
    unique = count <= DISTINCT_PINS
    order = list(range(DISTINCT_PINS))
    random.Random(16).shuffle(order)
    with _connect(DB_NAME) as conn:
        if not unique:
            # Bench database only: PINs repeat above 100,000 (see the module docstring).
            for (name,) in conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'customers'::regclass "
                "AND contype = 'u' AND pg_get_constraintdef(oid) LIKE '%(pin)%'"
            ).fetchall():
                conn.execute(f'ALTER TABLE customers DROP CONSTRAINT "{name}"')  # type: ignore[arg-type]
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'customers' "
                "AND indexdef LIKE 'CREATE UNIQUE INDEX%(pin)%'"
            ).fetchall():
                conn.execute(f'DROP INDEX "{name}"')  # type: ignore[arg-type]
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY customers (email, full_name, pin, previous_pin, active, wifi_access) "
                "FROM STDIN"
            ) as copy,
        ):
            chunk = io.StringIO()
            for i in range(count):
                pins = f"{pin_of(i, order)}\t{pin_of(i + 7, order)}"
                chunk.write(f"m{i:07d}@{DOMAIN}\tSweep Member {i}\t{pins}\tt\tt\n")
                if i % 50_000 == 49_999:
                    copy.write(chunk.getvalue())
                    chunk = io.StringIO()
            copy.write(chunk.getvalue())
        conn.execute("ANALYZE customers")
    cli(workdir, "nas", "add", "sweep", "--address", "127.0.0.1", "--secret", SECRET)
    rng = random.Random(count)
    sample = sorted(rng.sample(range(count), min(count, 5000)))
    return [Credential(f"m{i:07d}@{DOMAIN}", pin_of(i, order)) for i in sample], unique


# -- the server --------------------------------------------------------------------------


def proc_status_mb(pid: int, key: str) -> float:
    """A ``VmRSS``/``VmHWM`` line of /proc/PID/status, in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class LogTail:
    """The server's JSON log, read as it grows: each look reads only the new lines.

    The bench waits for log events while its load thread runs in the same process.
    Re-reading the whole log every 50 ms (500 lines a second of it under load) held
    the interpreter for milliseconds at a time, and the load thread's answers waited:
    the reload's measured p99 was partly the bench's own.
    """

    # The events the sweep waits for; per-request lines are skipped unparsed.
    WANTED = ("server_failed", "directory_loaded", "directory_degraded", "directory_recovered")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._found: dict[str, list[dict]] = {name: [] for name in self.WANTED}
        self._needles = [(name, f'"{name}"'.encode()) for name in self.WANTED]

    def events(self, name: str) -> list[dict]:
        """Every event ``name`` (one of WANTED) logged so far."""
        self._read()
        return self._found[name]

    def _read(self) -> None:
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # a line still being written
        for line in lines:
            for name, needle in self._needles:
                if needle in line:
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        if event.get("event") == name:
                            self._found[name].append(event)
                    break


def _event_time(event: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def wait_for(predicate, seconds: float, what: str, step: float = 0.02) -> float:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until true; the time it took. Raises after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}")


def accepts(gen: LoadGenerator, credential: Credential, wait: float = 0.2) -> bool:
    """One probe: True when answered Access-Accept."""
    return gen.probe(credential, wait=wait) == 2


class SteadyLoad:
    """An open-loop PAP load in short chunks on a thread, every latency kept with its time."""

    def __init__(self, target: tuple[str, int], credentials: list[Credential], rate: float):
        self.gen = LoadGenerator(target, SECRET.encode(), credentials, sockets=4, wrong_ratio=0.0)
        self.rate = rate
        self.chunks: list[tuple[float, float, list[float], int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            result = self.gen.run(0.5, rate=self.rate, keep_latencies=True)
            self.chunks.append(
                (started, time.time(), result.latencies_ms, result.sent, result.errors)
            )

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.gen.close()

    def window(self, start: float, end: float) -> tuple[list[float], int, int]:
        """Latencies, requests and errors of the chunks overlapping [start, end]."""
        latencies: list[float] = []
        sent = errors = 0
        for begun, ended, values, count, bad in self.chunks:
            if ended >= start and begun <= end:
                latencies += values
                sent += count
                errors += bad
        return latencies, sent, errors


def measure_size(
    count: int, workdir: Path, rate: float, baseline: Path | None = None
) -> list[SweepRow]:
    """Seed a fresh database with ``count`` customers; measure the baseline (if any), then ours."""
    admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{DB_NAME}"')
    started = time.perf_counter()
    credentials, unique = seed(count, workdir)
    seeded = time.perf_counter() - started
    log(f"{count:,}: seeded in {seeded:.1f} s (PINs {'unique' if unique else 'repeat'})")
    rows = []
    for source in ([baseline] if baseline else []) + [None]:
        row = SweepRow(count, unique, "before" if source else "ours", seed_s=seeded)
        shutil.rmtree(workdir / "data", ignore_errors=True)
        try:
            measure_server(row, credentials, workdir, rate, source)
        except RuntimeError as exc:  # e.g. the baseline never loads a million members
            row.notes.append(str(exc).strip().splitlines()[-1][:300])
            log(f"{count:,} {row.label}: {row.notes[-1]}")
        rows.append(row)
    return rows


def measure_server(
    row: SweepRow, credentials: list[Credential], workdir: Path, rate: float, source: Path | None
) -> None:
    """Start one server on the seeded database and fill ``row`` with what it measured."""
    count = row.customers
    auth_port, acct_port = free_udp_ports(2)
    logfile = workdir / f"serve-{count}-{row.label}.log"
    argv = [str(VENV_BIN / "radius-server"), "serve", "--host", "127.0.0.1"]
    argv += ["--auth-port", str(auth_port), "--acct-port", str(acct_port)]
    env = server_env(workdir)
    if source is not None:
        env["PYTHONPATH"] = str(source)  # that checkout's radius_server package first
    launched = time.time()
    process = start_process(argv, logfile, env=env)
    tail = LogTail(logfile)
    target = Target("ours", process, auth_port, SECRET.encode(), True, logfile, DB_NAME)
    server = ("127.0.0.1", auth_port)
    try:
        with LoadGenerator(server, SECRET.encode(), credentials[:1], sockets=1) as gen:

            def ready() -> bool:
                # A server that gave up may linger while its load thread finishes.
                if process.poll() is not None or tail.events("server_failed"):
                    raise RuntimeError(logfile.read_text(errors="replace")[-3000:])
                return accepts(gen, credentials[0], wait=0.05)

            wait_for(ready, 300, "the first Access-Accept", step=0.01)
            row.ready_s = time.time() - launched
            row.ready_cpu_s = cpu_seconds(process.pid)
            loaded = tail.events("directory_loaded")
            if loaded:
                row.load_ms = 1000 * (_event_time(loaded[0]) - launched)
            time.sleep(2.0)  # settle: the snapshot file is written after the load
            row.rss_mb = proc_status_mb(process.pid, "VmRSS")
            row.hwm_mb = proc_status_mb(process.pid, "VmHWM")
            log(f"{count:,} {row.label}: ready in {row.ready_s:.2f} s, RSS {row.rss_mb:.0f} MiB")
            row.change_s = one_change(gen, credentials[0])
        with SteadyLoad(server, credentials, rate) as load:
            time.sleep(3.0)
            steady, _, _ = load.window(time.time() - 2.5, time.time())
            row.steady_p99_ms = percentiles(steady)["p99"] if steady else 0.0
            row.rss_before_outage_mb = proc_status_mb(process.pid, "VmRSS")
            outage_start = time.time()
            reload_s = outage_and_reload(tail)
            reload_end = time.time()
            time.sleep(1.0)
        latencies, sent, errors = load.window(outage_start, reload_end)
        stats = percentiles(latencies) if latencies else {"p50": 0.0, "p99": 0.0, "max": 0.0}
        row.reload_s = reload_s
        row.reload_requests, row.reload_errors = sent, errors
        row.reload_p50_ms, row.reload_p99_ms = stats["p50"], stats["p99"]
        row.reload_max_ms = stats["max"]
        row.hwm_after_reload_mb = proc_status_mb(process.pid, "VmHWM")
        row.rss_after_reload_mb = proc_status_mb(process.pid, "VmRSS")
        log(
            f"{count:,} {row.label}: reload {reload_s:.1f} s, {sent} requests, {errors} errors, "
            f"p99 {row.reload_p99_ms:.2f} ms"
        )
    finally:
        stop_process(target.process)


def _set_active(member: Credential, active: bool) -> None:
    """Enable or disable one member: the row and its change feed entry, one commit."""
    with _connect(DB_NAME) as conn, conn.transaction():
        row = conn.execute(
            "UPDATE customers SET active = %s WHERE email = %s RETURNING id",
            (active, member.email),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO changes (entity, entity_id, at) VALUES ('customer', %s, now())",
            (row[0],),
        )


def one_change(gen: LoadGenerator, member: Credential) -> float:
    """Disable one member; seconds from the commit until they are refused. Then enable again.

    A disable, not a PIN change: at 100,000 members every 5-digit PIN is taken.
    """
    _set_active(member, False)
    committed = time.monotonic()
    wait_for(lambda: gen.probe(member, wait=0.05) == 3, 60, "the change", step=0.0)
    took = time.monotonic() - committed
    _set_active(member, True)
    wait_for(lambda: accepts(gen, member, wait=0.05), 60, "the change back", step=0.0)
    return took


def outage_and_reload(tail: LogTail) -> float:
    """Take the sweep database away until the server is degraded, bring it back; reload seconds.

    Only our own bench database: no new connections, and its backends ended.
    """
    loads_before = len(tail.events("directory_loaded"))
    admin_sql(f'ALTER DATABASE "{DB_NAME}" ALLOW_CONNECTIONS false')
    try:
        with _connect(PG_ADMIN_DB) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (DB_NAME,),
            )
        wait_for(lambda: tail.events("directory_degraded"), 60, "degraded mode", 0.05)
    finally:
        admin_sql(f'ALTER DATABASE "{DB_NAME}" ALLOW_CONNECTIONS true')
    wait_for(lambda: tail.events("directory_recovered"), 120, "recovery", 0.05)
    wait_for(
        lambda: len(tail.events("directory_loaded")) > loads_before,
        600,
        "the full reload",
        0.05,
    )
    recovered = _event_time(tail.events("directory_recovered")[-1])
    reloaded = _event_time(tail.events("directory_loaded")[-1])
    return max(0.0, reloaded - recovered)


# -- the sweep ---------------------------------------------------------------------------


def sweep(
    sizes: list[int],
    rate: float = DEFAULT_RATE,
    keep: bool = False,
    baseline: Path | None = None,
) -> list[SweepRow]:
    """Measure every size in turn; the sweep database is dropped at the end in any case."""
    workdir = Path(tempfile.mkdtemp(prefix="radius-sweep-"))
    rows = []
    try:
        for count in sizes:
            shutil.rmtree(workdir / "data", ignore_errors=True)
            rows += measure_size(count, workdir, rate, baseline)
    finally:
        with contextlib.suppress(Exception):
            admin_sql(f'ALTER DATABASE "{DB_NAME}" ALLOW_CONNECTIONS true')
        with contextlib.suppress(Exception):
            admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rows


TARGETS = {100_000: (120.0, 3.0), 1_000_000: (600.0, 30.0)}  # RSS MiB, ready s


def report(rows: list[SweepRow], rate: float) -> str:
    """The sweep table, the targets, and the PIN caveat."""
    header = ["customers"] + [f"{r.customers:,} {r.label}" for r in rows]
    lines = [
        header,
        ["PINs"] + ["unique" if r.pins_unique else "repeat*" for r in rows],
        ["ready (first Accept), s"] + [f"{r.ready_s:.2f}" for r in rows],
        ["  server CPU until ready, s"] + [f"{r.ready_cpu_s:.2f}" for r in rows],
        ["directory loaded, s after start"] + [f"{r.load_ms / 1000:.2f}" for r in rows],
        ["RSS when ready, MiB"] + [f"{r.rss_mb:.0f}" for r in rows],
        ["peak RSS (VmHWM) at start, MiB"] + [f"{r.hwm_mb:.0f}" for r in rows],
        ["one change (disable) honoured, s"] + [f"{r.change_s:.3f}" for r in rows],
        ["full reload after outage, s"] + [f"{r.reload_s:.2f}" for r in rows],
        [f"  requests during it ({rate:g}/s)"] + [f"{r.reload_requests:,}" for r in rows],
        ["  unanswered or wrong"] + [str(r.reload_errors) for r in rows],
        ["  p50 / p99 ms"] + [f"{r.reload_p50_ms:.2f} / {r.reload_p99_ms:.2f}" for r in rows],
        ["  max ms"] + [f"{r.reload_max_ms:.1f}" for r in rows],
        ["p99 ms before the outage"] + [f"{r.steady_p99_ms:.2f}" for r in rows],
        ["RSS under load before the outage, MiB"] + [f"{r.rss_before_outage_mb:.0f}" for r in rows],
        ["peak RSS after reload, MiB"] + [f"{r.hwm_after_reload_mb:.0f}" for r in rows],
        ["RSS after reload, MiB"] + [f"{r.rss_after_reload_mb:.0f}" for r in rows],
    ]
    out = [format_table(lines)]
    for r in rows:
        for note in r.notes:
            out.append(f"{r.customers:,} {r.label}: {note}")
        if r.customers in TARGETS and r.label == "ours":
            rss, ready = TARGETS[r.customers]
            out.append(
                f"target at {r.customers:,}: RSS <= {rss:g} MiB "
                f"({'met' if r.rss_mb <= rss else 'NOT met'}: {r.rss_mb:.0f}), "
                f"ready <= {ready:g} s "
                f"({'met' if r.ready_s <= ready else 'NOT met'}: {r.ready_s:.2f}), "
                f"reload p99 < 5 ms ({'met' if r.reload_p99_ms < 5 else 'NOT met'}: "
                f"{r.reload_p99_ms:.2f})"
            )
    if any(not r.pins_unique for r in rows):
        out.append(
            "* above 100,000 the bench database's UNIQUE constraint on customers.pin is dropped "
            "(5-digit PINs cannot be unique beyond 100,000): a capacity measurement of the "
            "server, which keys members by email and id, not a product configuration."
        )
    load = os.getloadavg()[0]
    out.append(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")
    return "\n".join(out)


def parse_sizes(text: str) -> list[int]:
    """``10000,100000,1e6`` -> [10000, 100000, 1000000]."""
    return [int(float(part)) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print the table; 1 when any request went unanswered or wrong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", default="10000,100000,1000000", type=parse_sizes)
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="load during the reload, req/s"
    )
    parser.add_argument(
        "--baseline-src",
        metavar="DIR",
        type=Path,
        help="also measure the radius_server package of this checkout first, as 'before' "
        "(`git archive COMMIT | tar -x -C DIR`), on the same database and load",
    )
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    log(f"load average {os.getloadavg()[0]:.2f}")
    rows = sweep(args.customers, args.rate, args.keep, args.baseline_src)
    print(report(rows, args.rate))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 1 if any(r.reload_errors for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
