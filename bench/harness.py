"""Running servers under load and reading what they cost from /proc (Linux only).

Shared by ``run.py`` for every server it measures: start and stop a process,
wait until it answers, then a warm-up, a closed-loop and an open-loop phase,
each bracketed by CPU readings of the server, of the PostgreSQL backends
serving the bench database, and of the whole machine (to show noise from
other programs on this shared box).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from acctgen import status_server_answered
from loadgen import Credential, LoadGenerator, LoadResult, Method

CLK_TCK = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent
# The benches' PostgreSQL (trust auth); each bench creates and drops its own database.
PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"


def log(message: str) -> None:
    """Progress on stderr, so stdout keeps only the results."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_output_options(
    parser: argparse.ArgumentParser, servers: tuple[str, ...], only_help: str
) -> None:
    """``--only SERVER`` (repeatable), ``--json FILE`` and ``--keep``: both benchmarks have them."""
    parser.add_argument("--only", choices=servers, action="append", help=only_help)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")


def format_table(table: list[list[str]]) -> str:
    """Rows of cells as aligned text: the first row is the header, the first column left."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    out = []
    for n, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


@contextlib.contextmanager
def scratch_dir(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary directory for logs and configs, removed on exit unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# -- the database ------------------------------------------------------------------------


def admin_sql(statement: str, dbname: str = PG_ADMIN_DB) -> None:
    """Run one statement (on the admin database by default), outside a transaction."""
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True
    ) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def pg_url(database: str) -> str:
    """SQLAlchemy URL of ``database`` on the benches' PostgreSQL."""
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@contextlib.contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """An empty database ``name``, dropped on exit (also when left over from a killed run)."""
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cli(env: dict[str, str], *args: str) -> str:
    """Run ``radius-server ARGS`` with ``env``; its stdout (its stderr in the error if it fails)."""
    done = subprocess.run(
        [str(VENV_BIN / "radius-server"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"radius-server {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


# -- /proc readings ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # After the ")" the fields start at field 3 (state); utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (serve --workers N runs its workers as children)."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            pids += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return pids


def thread_schedstats(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread of ``pid``: (nanoseconds on a CPU, nanoseconds waiting for one) so far,
    the scheduler's own counts (``/proc/PID/task/TID/schedstat``); threads that ended are
    not there."""
    stats: dict[int, tuple[int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return stats
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as handle:
                fields = handle.read().split()
        except OSError:
            continue  # the thread ended meanwhile
        stats[int(tid)] = (int(fields[0]), int(fields[1]))
    return stats


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process (``/proc/PID/task``); the main thread is PID."""
    found: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            found[int(tid)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
    return found


def thread_names(pid: int) -> dict[int, str]:
    """Python thread names by thread id, from ``py-spy dump`` (empty without py-spy).

    CPython 3.11 does not name its OS threads, so /proc only says "radius-server";
    py-spy reads the interpreter's names ("guard_0", "decisions_0", ...).
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.access(spy, os.X_OK):
        return {}
    try:
        out = subprocess.run(
            [spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    names: dict[int, str] = {}
    for line in out.splitlines():
        if line.startswith("Thread ") and '"' in line:
            ident = line.split()[1]
            tid = int(ident, 16) if ident.startswith("0x") else int(ident)
            names[tid] = line.split('"')[1]
    return names


def side_breakdown(
    pid: int, before: dict[int, float], after: dict[int, float], answered: int
) -> str:
    """Microseconds per request of each thread but the main one, busiest first."""
    names = thread_names(pid)
    per = 1e6 / max(1, answered)
    spent: dict[str, float] = {}
    for tid, seconds in after.items():
        name = names.get(tid, str(tid))
        spent[name] = spent.get(name, 0.0) + (seconds - before.get(tid, 0.0)) * per
    busy = sorted(((us, name) for name, us in spent.items() if us > 0), reverse=True)
    return ", ".join(f"{name} {us:.1f}" for us, name in busy) or "none"


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process, in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def system_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat, all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def postgres_backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (by process title)."""
    marker = f" {database} "
    found: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read().replace(b"\x00", b" ").decode("utf-8", "replace")
            if title.startswith("postgres: ") and marker in title:
                found[int(entry)] = cpu_seconds(int(entry))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return found


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; processes born in between count from zero."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def free_udp_ports(count: int) -> list[int]:
    """Ports the kernel hands out right now (a tiny race with other programs; fine here)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


# -- processes -----------------------------------------------------------------------------


def start_process(
    argv: list[str], logfile: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in its own session: Ctrl-C reaches us, and we stop it in order."""
    with logfile.open("wb") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; only this process."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


@dataclass(slots=True)
class Target:
    """A running server to measure."""

    label: str
    process: subprocess.Popen[bytes]
    port: int
    secret: bytes
    # FreeRADIUS before 3.2.5 sends no Message-Authenticator in PAP replies.
    require_reply_ma: bool
    logfile: Path
    # The database whose PostgreSQL backends work for this server (None: none do).
    pg_database: str | None = None
    acct_port: int | None = None  # its accounting port, if it listens on one


def wait_ready(target: Target, probe: Credential | None, seconds: float = 30.0) -> None:
    """Return once the server accepts ``probe``; raise if it dies or time runs out.

    ``probe`` None: once a Status-Server on the accounting port is answered.
    """
    deadline = time.monotonic() + seconds
    with contextlib.ExitStack() as stack:
        if probe is None:
            assert target.acct_port is not None
            where = ("127.0.0.1", target.acct_port)

            def ready() -> bool:
                return status_server_answered(where, target.secret)
        else:
            gen = stack.enter_context(
                LoadGenerator(
                    ("127.0.0.1", target.port),
                    target.secret,
                    [probe],
                    sockets=1,
                    require_reply_message_authenticator=target.require_reply_ma,
                )
            )

            def ready() -> bool:
                return gen.probe(probe, wait=0.5) == 2  # Access-Accept

        while time.monotonic() < deadline:
            if target.process.poll() is not None:
                break
            if ready():
                return
            time.sleep(0.2)
    tail = target.logfile.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{target.label} did not become ready; its log ends:\n{tail}")


# -- measuring -----------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    """One server's numbers. CPU figures are microseconds per answered request."""

    label: str
    throughput: LoadResult | None = None
    fixed: LoadResult | None = None
    cpu_us_max: float = 0.0
    cpu_us_fixed: float = 0.0
    pg_cpu_us_max: float = 0.0
    pg_cpu_us_fixed: float = 0.0
    # Server CPU spent outside its main thread (worker threads: DB sync, throttle, ...).
    side_cpu_us_max: float = 0.0
    side_cpu_us_fixed: float = 0.0
    # CPU (in cores) used by everything else on the machine during the phase: noise.
    other_cores_max: float = 0.0
    other_cores_fixed: float = 0.0
    peak_rss_mb: float = 0.0
    idle_cpu_percent: float = 0.0  # of one core, with no load (background polling)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Failed requests over both phases."""
        return sum(r.errors for r in (self.throughput, self.fixed) if r is not None)


class _Run(Protocol):
    """What a load generator's run reports (LoadResult, acctgen.AcctResult)."""

    @property
    def answered(self) -> int: ...

    @property
    def generator_cpu_s(self) -> float: ...


R = TypeVar("R", bound=_Run)


@dataclass(frozen=True, slots=True)
class Phase(Generic[R]):
    """One measured run and what it cost, per answered request (microseconds)."""

    result: R
    server_us: float
    side_us: float  # part of server_us spent outside the main thread
    postgres_us: float
    other_cores: float


def server_peak_rss_mb(target: Target) -> float:
    """Peak RSS of the server's processes, added up (workers are separate processes)."""
    return sum(peak_rss_mb(p) for p in process_tree(target.process.pid))


def bracket(target: Target, run: Callable[[], R]) -> Phase[R]:
    """Run one phase between CPU readings of the server, its PostgreSQL, the machine."""
    pid, database = target.process.pid, target.pg_database
    pg0 = postgres_backend_cpu(database) if database else {}
    threads0 = thread_cpu_seconds(pid)
    cpu0, busy0 = tree_cpu_seconds(target.process.pid), system_busy_seconds()
    wall0 = time.perf_counter()
    result = run()
    wall = time.perf_counter() - wall0
    cpu1, busy1 = tree_cpu_seconds(target.process.pid), system_busy_seconds()
    threads1 = thread_cpu_seconds(pid)
    pg1 = postgres_backend_cpu(database) if database else {}
    server, postgres = cpu1 - cpu0, cpu_delta(pg0, pg1)
    threads1.pop(pid, None)
    threads0.pop(pid, None)
    side = cpu_delta(threads0, threads1)
    if os.environ.get("BENCH_THREADS"):  # which threads, in us per request
        breakdown = side_breakdown(pid, threads0, threads1, result.answered)
        log(f"  outside the main thread (us/request): {breakdown}")
    others = (busy1 - busy0) - server - postgres - result.generator_cpu_s
    per = 1e6 / max(1, result.answered)
    return Phase(result, server * per, side * per, postgres * per, max(0.0, others / wall))


def measure(
    target: Target,
    credentials: list[Credential],
    *,
    duration: float,
    rate: float,
    concurrency: int,
    method: Method,
    warmup: float = 3.0,
    idle: float = 2.0,
) -> Measurement:
    """Idle CPU, a warm-up, then the closed-loop (throughput) and open-loop (latency) phases."""
    result = Measurement(target.label)
    cpu0 = tree_cpu_seconds(target.process.pid)
    time.sleep(idle)
    result.idle_cpu_percent = (tree_cpu_seconds(target.process.pid) - cpu0) * 100.0 / idle
    with LoadGenerator(
        ("127.0.0.1", target.port),
        target.secret,
        credentials,
        wrong_ratio=0.1,
        method=method,
        require_reply_message_authenticator=target.require_reply_ma,
    ) as gen:
        # Caches, connection pools, threads; and most members' devices seen once
        # (a device's first success is an event our guessing protection records).
        gen.run(warmup, concurrency=concurrency)
        log(f"{target.label}: max throughput, {concurrency} in flight, {duration:g} s")
        phase = bracket(target, lambda: gen.run(duration, concurrency=concurrency))
        result.throughput = phase.result
        result.cpu_us_max, result.pg_cpu_us_max = phase.server_us, phase.postgres_us
        result.side_cpu_us_max = phase.side_us
        result.other_cores_max = phase.other_cores
        log(
            f"  {phase.result.requests_per_second:,.0f} req/s, {phase.server_us:.1f} us CPU/req"
            f", {phase.result.errors} errors"
        )
        time.sleep(0.5)
        log(f"{target.label}: latency at {rate:g} req/s, {duration:g} s")
        phase = bracket(target, lambda: gen.run(duration, rate=rate))
        result.fixed = phase.result
        result.cpu_us_fixed, result.pg_cpu_us_fixed = phase.server_us, phase.postgres_us
        result.side_cpu_us_fixed = phase.side_us
        result.other_cores_fixed = phase.other_cores
        log(
            f"  p50 {phase.result.p50_ms:.3f} ms, p99 {phase.result.p99_ms:.3f} ms"
            f", {phase.result.errors} errors"
        )
    result.peak_rss_mb = server_peak_rss_mb(target)
    if target.process.poll() is not None:
        result.notes.append("the server exited during the run")
    return result
