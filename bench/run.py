"""The benchmark, one command: our server against FreeRADIUS 3.2 with SQL and with files.

    .venv/bin/python bench/run.py [--duration 10] [--rate 2000] [--concurrency 64]

Creates a PostgreSQL database (``radius_bench``) with 10,000 customers imported
through the real CLI (``radius-server customer import``), starts ``radius-server
serve`` on free ports, and measures it with ``bench/loadgen.py``:

(a) maximum throughput, closed loop (``--concurrency`` requests in flight);
(b) latency at a fixed rate, open loop (``--rate``, 2,000/s);
(c) server CPU per request (``/proc/PID/stat`` utime+stime over each phase,
    divided by the requests answered), the PostgreSQL backends' CPU per
    request, and peak RSS (``VmHWM``).

Then the same load against FreeRADIUS 3.2 reading the same ``customers`` table
through rlm_sql, and against FreeRADIUS with the same members in memory
(rlm_files): see ``freeradius.py``. Prints a side-by-side table with the ratios.
Servers and the database are cleaned up at the end, on errors and on Ctrl-C too.

Both sides: reject_delay 0, Message-Authenticator required on Access-Requests,
a 5 s duplicate cache; the mix is PAP with 10% wrong (stale, previous) PINs, each request with
the NAS and station attributes an access point sends.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customers_sweep
import eap_bench
import freeradius
import propagation
from harness import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    VENV_BIN,
    Measurement,
    Target,
    add_output_options,
    admin_sql,
    format_table,
    free_udp_ports,
    fresh_database,
    log,
    measure,
    pg_url,
    run_cli,
    scratch_dir,
    start_process,
    stop_process,
    wait_ready,
)
from loadgen import Credential, LoadResult
from profiling import profile_server

DB_NAME = "radius_bench"
SECRET = "bench-shared-secret-0123456789"
EMAIL_DOMAIN = "bench.test"  # not example.com: Debian's FreeRADIUS proxies that realm


# -- the database and the customers --------------------------------------------------------


def forget_throttle_history() -> None:
    """Empty the shared guessing-protection log, so one server's failures never reach the next.

    The newest row stays: it marks the log's position. Without it a new server
    would start reading at 0 and take every sequence number below the next
    insert for a hole still to be filled (see the README's findings).
    """
    with contextlib.suppress(Exception):  # older schemas have no such table
        admin_sql(
            "DELETE FROM throttle_events WHERE seq < (SELECT max(seq) FROM throttle_events)",
            dbname=DB_NAME,
        )


# The default mix's wrong PINs are stale ones from members' own devices, which the
# default guessing protection lets through as plain rejects ("defaults"). For
# random wrong PINs ("raised") budgets this high keep its bookkeeping on the
# measured path while every answer stays the PIN's verdict.
UNLIMITED = str(10**9)
THROTTLE_RAISED = {
    f"RADIUS_THROTTLE_{scope}_BUDGET": UNLIMITED
    for scope in ("USER", "DEVICE", "STATION", "LOCATION", "GLOBAL")
}


def server_env(throttle: str = "raised", database: str = DB_NAME) -> dict[str, str]:
    """Our environment without any RADIUS_* leaking in, plus the bench settings.

    ``throttle``: "defaults" (the shipped settings), "raised" (on, budgets never
    reached) or "off".
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIUS_")}
    env.update(
        RADIUS_DATABASE_URL=pg_url(database),
        RADIUS_LOG_FORMAT="json",
        RADIUS_LOG_LEVEL="info",
        RADIUS_REJECT_DELAY="0",
        # /metrics stays on (its counters are part of the measured cost), on any free port:
        # benchmarks running side by side must not fight over 9812.
        RADIUS_METRICS_PORT="0",
    )
    if throttle == "raised":
        env.update(THROTTLE_RAISED)
    if throttle == "off":
        env["RADIUS_THROTTLE_ENABLED"] = "false"
    return env


def cli(*args: str, database: str = DB_NAME) -> str:
    """Run ``radius-server ARGS`` against the bench database; its stdout."""
    return run_cli(server_env(database=database), *args)


def write_customers(path: Path, count: int, seed: int = 42) -> list[Credential]:
    """Two CSVs (email,name,pin) of ``count`` members: their previous PINs, then current ones.

    Importing both makes the server remember each member's previous PIN, so the
    mix's wrong PINs are stale ones, as from a phone still holding the old PIN.
    """
    from radius_server.rules.pins import drawable

    rng = random.Random(seed)
    drawn = rng.sample(drawable(), 2 * count)
    members = [
        Credential(f"member{i:05d}@{EMAIL_DOMAIN}", drawn[2 * i], stale=drawn[2 * i + 1])
        for i in range(count)
    ]
    for target, current in ((path.with_suffix(".old.csv"), False), (path, True)):
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "name", "pin"])
            for i, member in enumerate(members):
                pin = member.pin if current else member.stale
                writer.writerow([member.email, f"Bench Member {i}", pin])
    return members


def self_check() -> None:
    """The load generator's packets are byte-for-byte what the product's client builds."""
    from loadgen import build_request, plan_requests, station_attributes

    from radius_server.protocol.client import encode_request

    authenticator = bytes(range(16))
    for method in ("pap", "chap"):
        planned = plan_requests(
            [Credential(f"x@{EMAIL_DOMAIN}", "12345")], wrong_ratio=0.0, method=method, size=1
        )[0]
        ours = build_request(planned, 7, authenticator, SECRET.encode())
        reference = encode_request(
            SECRET.encode(),
            identifier=7,
            user_name=f"x@{EMAIL_DOMAIN}",
            password=b"12345",
            method=method,  # type: ignore[arg-type]
            authenticator=authenticator,
            chap_id=7,
            attributes=station_attributes(f"x@{EMAIL_DOMAIN}"),
        )
        if ours != reference.packet:
            raise RuntimeError(f"loadgen {method} encoding differs from radius_server's client")


# -- plans (--plans) -------------------------------------------------------------------------

# What a coworking space sells (README, Access plans): a desk with a VLAN, a bandwidth limit
# and an extra reply attribute; a hot desk with hours and a location list besides. The NAS
# is a MikroTik at the location, so the bandwidth goes out as a vendor attribute.
BENCH_LOCATION, BENCH_ZONE = "hq", "Europe/Madrid"
BENCH_PLANS = ("desk", "hotdesk")


def bench_hours(now: datetime) -> str:
    """A daily window from 3 hours before ``now`` to 3 hours after, at the location: the
    mix's answers stay the PIN's verdict while the hours are really evaluated ("all day"
    would take the rules' shortcut for plans without hours)."""
    local = now.astimezone(ZoneInfo(BENCH_ZONE))
    start, end = local - timedelta(hours=3), local + timedelta(hours=3)
    return f"daily {start:%H:%M}-{end:%H:%M}"


def add_plans() -> None:
    """The plans, the location and the NAS's vendor for ``--plans``, through the CLI."""
    cli("location", "add", BENCH_LOCATION, "--timezone", BENCH_ZONE)
    cli("nas", "update", "bench", "--vendor", "mikrotik", "--location", BENCH_LOCATION)
    desk, hotdesk = BENCH_PLANS
    cli(
        *("plan", "add", desk, "--vlan", "20", "--down", "10000", "--up", "2000"),
        *("--reply", "Filter-Id = members"),
    )
    cli(
        *("plan", "add", hotdesk, "--vlan", "30", "--down", "5000", "--up", "1000"),
        *("--hours", bench_hours(datetime.now(UTC)), "--locations", BENCH_LOCATION),
    )


def assign_plans(on: bool) -> None:
    """Every member on a plan, alternately ``desk`` and ``hotdesk`` (``on``), or all on the
    default plan. Straight SQL, 10,000 rows at once: no server is running (each reads its
    plans and members when it starts)."""
    statement = (
        "UPDATE customers SET plan_id = (SELECT id FROM plans WHERE name = CASE "
        "WHEN customers.id % 2 = 0 THEN 'desk' ELSE 'hotdesk' END)"
        if on
        else "UPDATE customers SET plan_id = NULL WHERE plan_id IS NOT NULL"
    )
    admin_sql(statement, dbname=DB_NAME)
    # 10,000 rewritten rows would otherwise bring autovacuum into the measured phases.
    admin_sql("VACUUM ANALYZE customers", dbname=DB_NAME)


# -- our server --------------------------------------------------------------------------


@contextlib.contextmanager
def our_server(
    workdir: Path,
    probe: Credential | None,
    throttle: str,
    label: str = "ours",
    workers: int = 1,
    database: str = DB_NAME,
    source: Path | None = None,
    decisions: bool = True,
) -> Iterator[Target]:
    """``radius-server serve`` on free ports, JSON log lines (info) to a file.

    Its data directory (snapshot, accounting spool) is private to the run, in
    ``workdir``. Ready once it accepts ``probe`` (None: once it answers a
    Status-Server on its accounting port). ``source``: run the ``radius_server``
    package of that checkout instead (first on PYTHONPATH), e.g. an older commit.
    """
    auth_port, acct_port = free_udp_ports(2)
    slug = "".join(ch if ch.isalnum() or ch in "+-" else "_" for ch in label)
    logfile = workdir / f"radius-server-{throttle}-{slug}.log"
    argv = [str(VENV_BIN / "radius-server"), "serve", "--host", "127.0.0.1"]
    argv += ["--auth-port", str(auth_port), "--acct-port", str(acct_port)]
    argv += ["--workers", str(workers)]
    env = server_env(throttle, database)
    env["RADIUS_DATA_DIR"] = str(workdir / f"data-{slug}")
    if not decisions:
        env["RADIUS_DECISION_LOG_ENABLED"] = "false"
    if source is not None:
        env["PYTHONPATH"] = str(source)
    process = start_process(argv, logfile, env=env)
    target = Target(
        label, process, auth_port, SECRET.encode(), True, logfile, database, acct_port=acct_port
    )
    try:
        wait_ready(target, probe)
        yield target
    finally:
        stop_process(process)


def settle_disconnect_jobs(workdir: Path, probe: Credential, timeout: float = 120.0) -> None:
    """Let one (unmeasured) server work off the disconnect jobs the import queued.

    Importing 10,000 new PINs queues a pin_changed job per member; whichever server starts
    first settles them (members without a session end in bulk), in its measured phases.
    Comparing columns (``--baseline-src``, ``--plans both``, ``--rounds``) needs every
    column to start from the same state.
    """
    import psycopg

    def pending() -> int:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=DB_NAME) as conn:
            row = conn.execute("SELECT count(*) FROM disconnect_jobs WHERE done_at IS NULL")
            return int(row.fetchone()[0])  # type: ignore[index]

    if not pending():
        return
    with our_server(workdir, probe, "defaults", "settle"):
        deadline = time.monotonic() + timeout
        while (left := pending()) and time.monotonic() < deadline:
            time.sleep(0.5)
    log(f"disconnect jobs from the import settled ({left} left)")


def log_problems(
    logfile: Path,
    event: str = "access",
    expected: tuple[str, ...] = ("ok", "wrong_pin", "stale_pin"),
) -> list[str]:
    """Error lines, and ``event`` lines whose reason is not ``expected``, in our server's log."""
    notes = []
    errors = 0
    reasons: dict[str, int] = {}
    marker = f'"event": "{event}"'
    with logfile.open(errors="replace") as handle:
        for line in handle:
            if '"level": "error"' in line:
                errors += 1
            if marker in line:
                reason = line.split('"reason": "', 1)[-1].split('"', 1)[0]
                if reason not in expected:
                    reasons[reason] = reasons.get(reason, 0) + 1
    if errors:
        notes.append(f"{errors} error lines in the server log")
    if reasons:
        notes.append(f"unexpected reasons in the server log: {reasons}")
    return notes


# -- report ----------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _lg_cpu(result: LoadResult | None) -> float:
    return result.loadgen_cpu_us if result else 0.0


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def report(results: list[Measurement], args: argparse.Namespace) -> str:
    """The side-by-side table, with ratios ours / each FreeRADIUS."""
    rows: list[tuple[str, list[float], int, bool]] = []

    def add(
        name: str, get: Callable[[Measurement], float], digits: int = 0, ratio: bool = True
    ) -> None:
        rows.append((name, [get(m) for m in results], digits, ratio))

    add(
        f"throughput, req/s ({args.concurrency} in flight)",
        lambda m: m.throughput.requests_per_second if m.throughput else 0.0,
    )
    add("p99 at max (closed loop), ms", lambda m: m.throughput.p99_ms if m.throughput else 0.0, 2)
    add(f"p50 at {args.rate:g}/s, ms", lambda m: m.fixed.p50_ms if m.fixed else 0.0, 3)
    add(f"p99 at {args.rate:g}/s, ms", lambda m: m.fixed.p99_ms if m.fixed else 0.0, 3)
    add(f"max at {args.rate:g}/s, ms", lambda m: m.fixed.max_ms if m.fixed else 0.0, 2)
    add("server CPU us/req at max", lambda m: m.cpu_us_max, 1)
    add("  of which outside the main thread", lambda m: m.side_cpu_us_max, 1, ratio=False)
    add(f"server CPU us/req at {args.rate:g}/s", lambda m: m.cpu_us_fixed, 1)
    add("  of which outside the main thread", lambda m: m.side_cpu_us_fixed, 1, ratio=False)
    add("PostgreSQL CPU us/req at max", lambda m: m.pg_cpu_us_max, 1)
    add(f"PostgreSQL CPU us/req at {args.rate:g}/s", lambda m: m.pg_cpu_us_fixed, 1)
    add("peak RSS (VmHWM), MiB", lambda m: m.peak_rss_mb, 1)
    add("idle CPU, % of a core", lambda m: m.idle_cpu_percent, 1, ratio=False)
    add("load generator CPU us/req at max", lambda m: _lg_cpu(m.throughput), 1, ratio=False)
    add("other CPU load at max, cores (noise)", lambda m: m.other_cores_max, 2, ratio=False)
    add(f"other CPU load at {args.rate:g}/s, cores", lambda m: m.other_cores_fixed, 2, ratio=False)
    add("errors (both phases)", lambda m: float(m.errors), ratio=False)
    others = [i for i, m in enumerate(results) if m.label.startswith("FreeRADIUS")]
    headers = ["", *(m.label for m in results)]
    mine = _ours_index(results)
    if mine is not None and "off" not in results[mine].label:
        headers += [f"ours/{results[i].label}" for i in others]
    else:
        others = []
    table: list[list[str]] = [headers]
    for name, values, digits, ratio in rows:
        line = [name, *(_fmt(v, digits) for v in values)]
        line += [_ratio(values[mine or 0], values[i]) if ratio else "" for i in others]
        table.append(line)
    return format_table(table)


def _ours_index(results: list[Measurement]) -> int | None:
    """Where our (current) server's first column is: after ``before`` when there is one."""
    return next((i for i, m in enumerate(results) if m.label.startswith("ours")), None)


def verdict(results: list[Measurement], args: argparse.Namespace) -> list[str]:
    """The issue's targets, checked."""
    mine = _ours_index(results)
    if mine is None:
        return []
    ours = results[mine]
    lines = []
    if ours.fixed:
        ok = ours.fixed.p99_ms < 5.0 and ours.fixed.errors == 0
        lines.append(
            f"target p99 < 5 ms at {args.rate:g}/s: {'met' if ok else 'NOT met'} "
            f"({ours.fixed.p99_ms:.3f} ms)"
        )
    sql = next((m for m in results if m.label == "FreeRADIUS-sql"), None)
    if sql and sql.throughput and ours.throughput:
        ratio = ours.throughput.requests_per_second / sql.throughput.requests_per_second
        lines.append(
            f"target >= 2x FreeRADIUS-sql throughput: {'met' if ratio >= 2 else 'NOT met'} "
            f"({ratio:.2f}x)"
        )
    return lines


def json_header(args: argparse.Namespace, fr_version: str) -> dict:
    """When, on what, against which FreeRADIUS, with which options: the JSON's first keys."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "freeradius": fr_version,
        "settings": vars(args),
    }


def to_json(results: list[Measurement], args: argparse.Namespace, fr_version: str) -> dict:
    """Everything measured, for the record."""
    return {
        **json_header(args, fr_version),
        "results": [
            {
                "label": m.label,
                "throughput": m.throughput.summary() if m.throughput else None,
                "fixed_rate": m.fixed.summary() if m.fixed else None,
                "cpu_us_per_request_max": round(m.cpu_us_max, 1),
                "cpu_us_per_request_fixed": round(m.cpu_us_fixed, 1),
                "side_thread_cpu_us_per_request_max": round(m.side_cpu_us_max, 1),
                "side_thread_cpu_us_per_request_fixed": round(m.side_cpu_us_fixed, 1),
                "postgres_cpu_us_per_request_max": round(m.pg_cpu_us_max, 1),
                "postgres_cpu_us_per_request_fixed": round(m.pg_cpu_us_fixed, 1),
                "peak_rss_mb": round(m.peak_rss_mb, 1),
                "idle_cpu_percent": round(m.idle_cpu_percent, 1),
                "other_cores_max": round(m.other_cores_max, 2),
                "other_cores_fixed": round(m.other_cores_fixed, 2),
                "notes": m.notes,
            }
            for m in results
        ],
    }


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description="Benchmark radius-server against FreeRADIUS.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (10)")
    parser.add_argument("--rate", type=float, default=2000.0, help="open-loop rate (2000/s)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="closed loop: requests in flight (64)"
    )
    parser.add_argument("--customers", type=int, default=10_000, help="members (10,000)")
    parser.add_argument("--method", choices=("pap", "chap", "mixed"), default="pap")
    parser.add_argument(
        "--freeradius-threads",
        type=int,
        default=freeradius.DEFAULT_THREADS,
        help=f"FreeRADIUS workers and SQL connections ({freeradius.DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--throttle",
        choices=("defaults", "raised", "off", "both"),
        default="defaults",
        help="our guessing protection: shipped defaults ('ours', default), budgets out of "
        "reach ('raised'), off "
        "('ours-throttle-off'), or both as two columns",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="our server processes (serve --workers N)"
    )
    parser.add_argument(
        "--plans",
        choices=("off", "on", "both"),
        default="off",
        help="members on plans (VLAN, bandwidth, a reply attribute; hours and a location "
        "for half), NAS a MikroTik: off (the default plan), on ('ours+plans'), or both as "
        "two columns",
    )
    parser.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also measure the radius_server package of this checkout (e.g. `git archive "
        "COMMIT | tar -x -C DIR`) first, as 'before', on the same database",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure our columns this many times, alternately (the spread shows the noise)",
    )
    parser.add_argument(
        "--decisions",
        choices=("on", "off", "both"),
        default="on",
        help="our recent-decisions recording (decision_log_enabled): on (the default), off "
        "('-decisions-off'), or both as two columns",
    )
    parser.add_argument(
        "--sweep",
        metavar="SIZES",
        type=customers_sweep.parse_sizes,
        help="also run the customers sweep (customers_sweep.py) at these sizes, e.g. "
        "10000,100000,1000000: start-up, RSS, one change, a full reload under load",
    )
    parser.add_argument(
        "--eap",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds per phase of the EAP benchmark (eap_bench.py: PEAP and TTLS, full and "
        "resumed, RSA and ECDSA, beside FreeRADIUS with its TLS cache on); 0 skips (5)",
    )
    parser.add_argument("--skip-freeradius", action="store_true", help="measure ours only")
    parser.add_argument(
        "--import-sizes",
        metavar="N,N",
        help="also time `customer import` of N members (fresh, same file, 10%% changed) on "
        "PostgreSQL and SQLite: bench/import_bench.py",
    )
    add_output_options(parser, ("ours", "sql", "files"), "measure only these (repeatable)")
    parser.add_argument(
        "--propagation",
        type=int,
        default=50,
        metavar="N",
        help="PIN changes per mode of the propagation phase (bench/propagation.py); 0 skips",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="after the measured phases, profile our server with py-spy, raw stacks into DIR",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rate <= 0 or args.concurrency <= 0 or args.customers <= 0:
        parser.error("duration, rate, concurrency and customers must be positive")
    if args.rounds < 1:
        parser.error("rounds must be at least 1")
    if args.baseline_src and not Path(args.baseline_src, "radius_server").is_dir():
        parser.error(f"--baseline-src {args.baseline_src}: no radius_server package there")
    return args


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_all(
    args: argparse.Namespace, wanted: set[str], fr_binary: str | None, workdir: Path
) -> tuple[list[Measurement], str]:
    """Set up the database, measure each wanted server; (results, profile text)."""
    results: list[Measurement] = []
    profile = ""
    log(f"database {DB_NAME} on {PG_HOST}:{PG_PORT}")
    cli("db", "upgrade")
    csv_path = workdir / "customers.csv"
    credentials = write_customers(csv_path, args.customers)
    started = time.perf_counter()
    cli("customer", "import", str(csv_path.with_suffix(".old.csv")))
    cli("customer", "import", str(csv_path))
    log(f"imported {len(credentials):,} customers in {time.perf_counter() - started:.1f} s")
    cli("nas", "add", "bench", "--address", "127.0.0.1", "--secret", SECRET)
    if args.plans != "off":
        add_plans()
    phase = {
        "duration": args.duration,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "method": args.method,
    }
    if "ours" in wanted:
        throttles = ("defaults", "off") if args.throttle == "both" else (args.throttle,)
        plans = {"off": (False,), "on": (True,), "both": (False, True)}[args.plans]
        # (source, members on plans): the baseline checkout first, on the default plan.
        recording = {"on": (True,), "off": (False,), "both": (False, True)}[args.decisions]
        variants = [(None, on_plans, rec) for on_plans in plans for rec in recording]
        if args.baseline_src:
            variants.insert(0, (Path(args.baseline_src), False, True))
        if len(variants) > 1 or args.rounds > 1:
            settle_disconnect_jobs(workdir, credentials[0])
        # Every other round in reverse order, so no column always runs first (a busy
        # machine drifts).
        runs = [
            (round_, throttle, source, on_plans, rec)
            for round_ in range(1, args.rounds + 1)
            for throttle in throttles
            for source, on_plans, rec in (variants if round_ % 2 else variants[::-1])
        ]
        for round_, throttle, source, on_plans, rec in runs:
            forget_throttle_history()
            if args.plans != "off":
                assign_plans(on_plans)
            label = "before" if source else "ours"
            label += "-throttle-off" if throttle == "off" else ""
            if on_plans:
                label += "+plans"
            if not rec:
                label += "-decisions-off"
            if args.workers > 1:
                label += f" x{args.workers}"
            if args.rounds > 1:
                label += f" #{round_}"
            with our_server(
                workdir, credentials[0], throttle, label, args.workers, source=source, decisions=rec
            ) as target:
                log(f"{label}: radius-server pid {target.process.pid}, port {target.port}")
                result = measure(target, credentials, **phase)  # type: ignore[arg-type]
                if args.profile and not profile:
                    log(f"{label}: profiling with py-spy (extra phase, not in the table)")
                    profile = profile_server(
                        target,
                        credentials,
                        duration=args.duration,
                        concurrency=args.concurrency,
                        method=args.method,
                        outdir=Path(args.profile),
                    )
            result.notes.extend(log_problems(target.logfile))
            results.append(result)
    for backend in ("sql", "files"):
        if backend not in wanted or fr_binary is None:
            continue
        with freeradius.running(
            fr_binary,
            workdir,
            backend=backend,
            secret=SECRET,
            credentials=credentials,
            threads=args.freeradius_threads,
            database=(DB_NAME, PG_HOST, PG_PORT, PG_USER),
        ) as target:
            log(f"{target.label}: pid {target.process.pid}, port {target.port}")
            results.append(measure(target, credentials, **phase))  # type: ignore[arg-type]
    return results, profile


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; 0 on success, 1 when requests failed, 130 on Ctrl-C."""
    args = parse_args(argv)
    # Clean up when killed, too; and on SIGINT even if started with it ignored (``cmd &``).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    wanted = set(args.only or ("ours", "sql", "files"))
    if args.skip_freeradius:
        wanted &= {"ours"}
    fr_binary = freeradius.find_binary() if wanted & {"sql", "files"} else None
    if wanted & {"sql", "files"} and fr_binary is None:
        log(
            "FreeRADIUS 3.2 with rlm_sql_postgresql is not installed: measuring ours only. "
            f"To compare, install it: {freeradius.APT_HINT}"
        )
        wanted &= {"ours"}
    fr_version = freeradius.version(fr_binary) if fr_binary else "FreeRADIUS not measured"
    load = os.getloadavg()[0]
    if load > 1.0:
        log(f"the machine is busy (load average {load:.2f}): expect noisy numbers")
    self_check()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    spread: list[propagation.Row] = []
    with scratch_dir("radius-bench-", args.keep) as workdir:
        try:
            with fresh_database(DB_NAME):
                results, profile = run_all(args, wanted, fr_binary, workdir)
                if args.propagation > 0 and "ours" in wanted:
                    spread = propagation.measure(workdir, changes=args.propagation, idle=10.0)
        except KeyboardInterrupt:
            log("interrupted: cleaning up")
            return 130
    print_results(results, args, fr_version, wanted)
    if args.import_sizes:
        from import_bench import import_table, run_import_bench

        sizes = [int(n) for n in args.import_sizes.split(",") if n]
        print()
        print(import_table(run_import_bench(sizes, ["postgresql", "sqlite"])))
    if spread:
        print()
        print("PIN-change propagation, 2 servers on one PostgreSQL (bench/propagation.py):")
        print(propagation.report(spread))
    sweep_rows = customers_sweep.sweep(args.sweep) if args.sweep else []
    if sweep_rows:
        print()
        print("customers sweep (its own database, radius_bench_sweep):")
        print(customers_sweep.report(sweep_rows, customers_sweep.DEFAULT_RATE))
    if args.eap > 0 and "ours" in wanted:
        print()
        fr = bool(wanted & {"sql", "files"})
        print(eap_bench.measure(args.eap, freeradius=fr, workers=args.workers))
    if profile:
        print()
        print("our server under py-spy (extra closed-loop phase):")
        print(profile)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(results, args, fr_version), indent=2))
    return 1 if any(m.errors for m in results) or any(r.reload_errors for r in sweep_rows) else 0


def print_results(
    results: list[Measurement], args: argparse.Namespace, fr_version: str, wanted: set[str]
) -> None:
    """Header lines, the table, the targets, per-server error details and notes."""
    print()
    print(
        f"radius-server benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {fr_version}"
    )
    print(
        f"{args.customers:,} customers on PostgreSQL; {args.method.upper()}, 10% stale PINs; "
        "Message-Authenticator required on Access-Requests by every server; reject_delay 0 "
        f"everywhere; {args.duration:g} s per phase; the load generator shares the machine."
    )
    if wanted & {"ours"}:
        print(
            "ours: JSON log line per request (level info) to a file; guessing protection "
            + {
                "defaults": "on with the shipped defaults (wrong PINs are stale ones)",
                "raised": "on, budgets raised out of reach",
                "off": "off",
                "both": "on with the shipped defaults, and off",
            }[args.throttle]
            + "."
        )
    if wanted & {"sql", "files"}:
        print(
            f"FreeRADIUS: {args.freeradius_threads} workers (and SQL connections). Before 3.2.5 "
            "it sends no Message-Authenticator in PAP replies: its Response Authenticator is "
            "verified, its Message-Authenticator when present."
        )
    print()
    print(report(results, args))
    print()
    for line in verdict(results, args):
        print(line)
    for m in results:
        for note in m.notes:
            print(f"note ({m.label}): {note}")
        for name, res in (("max", m.throughput), (f"{args.rate:g}/s", m.fixed)):
            if res is not None and res.errors:
                print(
                    f"{m.label} at {name}: {res.errors} errors (timeouts {res.timeouts}, wrong "
                    f"answers {res.wrong_answers}, bad authenticators {res.bad_authenticators}, "
                    f"unsent {res.unsent})"
                )


if __name__ == "__main__":
    sys.exit(main())
