"""The accounting benchmark: our server against FreeRADIUS 3.2 rlm_sql, same load, same PostgreSQL.

    .venv/bin/python bench/accounting.py [--seconds 10] [--sessions 1000] [--window 64]

For each server, a fresh database on the PostgreSQL of ``run.py``:

* FreeRADIUS 3.2 with ``preacct { acct_unique }`` and ``accounting { sql }``,
  rlm_sql_postgresql with Debian's stock ``queries.conf`` on its stock
  ``schema.sql`` (see ``freeradius.py``), measured twice: a fixed pool of
  ``--freeradius-threads`` workers with as many SQL connections, and Debian's
  default thread pool with the stock SQL pool (as many connections as threads);
* ours: ``radius-server serve`` on a database made by ``radius-server db upgrade``,
  with the members imported and the client added through the CLI.

The load is ``acctgen.py``: ``--sessions`` sessions open at once, each a
Start, a few Interim-Updates and a Stop, ``--window`` requests in flight
(``--find-max``: the window that gives the most). After a warm-up, the measured
phase, and a wind-down that stops every open session, the rows are checked
against what the server acknowledged: one row per session, stopped, with the
octets (Gigawords folded) and session time of the last packet answered.
Servers, databases and the temporary directory are removed at the end, also on
errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius
from acctgen import (
    FIND_MAX_WINDOWS,
    SOCKETS,
    STOP,
    AcctResult,
    Expectation,
    Generators,
    add_load_options,
    check_load_options,
    find_max,
    mix_from_args,
)
from harness import (
    PG_ADMIN_DB,
    PG_HOST,
    PG_PORT,
    PG_USER,
    Phase,
    Target,
    add_output_options,
    bracket,
    format_table,
    fresh_database,
    log,
    scratch_dir,
    server_peak_rss_mb,
)
from run import (
    SECRET,
    cli,
    json_header,
    log_problems,
    our_server,
    write_customers,
)

# -- what the servers stored ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """The rows of one session: how many, how many stopped, the largest values."""

    rows: int
    stopped: int
    input_octets: int
    output_octets: int
    session_time: int


# The query of each server's table: session id, rows, stopped rows, octets, time.
FREERADIUS_ROWS = (
    "SELECT acctsessionid, count(*), count(acctstoptime), max(acctinputoctets), "
    "max(acctoutputoctets), max(acctsessiontime) FROM radacct GROUP BY acctsessionid"
)
OURS_ROWS = (
    "SELECT acct_session_id, count(*), count(stopped_at), max(input_octets), "
    "max(output_octets), max(session_time) FROM sessions GROUP BY acct_session_id"
)


def read_rows(database: str, query: str) -> dict[str, Stored] | None:
    """The stored sessions by Acct-Session-Id; None when the table does not exist."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database) as conn:
        try:
            rows = conn.execute(query).fetchall()  # type: ignore[arg-type]
        except psycopg.errors.UndefinedTable:
            return None
    return {
        str(sid): Stored(n, stopped, inp or 0, out or 0, t or 0)
        for sid, n, stopped, inp, out, t in rows
    }


def settled_rows(database: str, query: str, wait: float = 15.0) -> dict[str, Stored] | None:
    """The rows once they stop changing for a second (a server may write behind its acks)."""
    deadline = time.monotonic() + wait
    rows = read_rows(database, query)
    while rows is not None and time.monotonic() < deadline:
        time.sleep(1.0)
        again = read_rows(database, query)
        if again == rows:
            break
        rows = again
    return rows


@dataclass(slots=True)
class RowCheck:
    """Stored rows against what the server acknowledged.

    ``lost`` counts sessions whose acknowledged data is not in the table: no
    row at all, no stop time after an answered Stop, or counters other than
    those of the last answered packet. A session with a packet the generator
    gave up on (``unconfirmed``) may hold more than was acknowledged, so for it
    only a missing row or counters below the acknowledged ones count as lost.
    """

    sessions: int = 0  # sessions with at least one answered packet
    rows: int = 0
    lost: int = 0
    missing: int = 0
    not_stopped: int = 0
    wrong_counters: int = 0
    duplicated: int = 0  # sessions with more than one row
    unexpected: int = 0  # rows of sessions never sent
    unconfirmed: int = 0
    examples: list[str] = field(default_factory=list)

    def _bad(self, kind: str, expect: Expectation, stored: Stored | None) -> None:
        self.lost += 1
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {expect} stored {stored}")


def check_rows(expected: dict[str, Expectation], stored: dict[str, Stored]) -> RowCheck:
    """Compare every played session with its stored rows."""
    check = RowCheck(rows=sum(s.rows for s in stored.values()))
    check.unexpected = sum(1 for sid in stored if sid not in expected)
    for sid, expect in expected.items():
        row = stored.get(sid)
        if expect.unconfirmed:
            check.unconfirmed += 1
        if row is not None and row.rows > 1:
            check.duplicated += 1
        if expect.status == 0:
            continue  # nothing acknowledged: a row or none are both right
        check.sessions += 1
        if row is None:
            check._bad("missing", expect, row)
            continue
        counters = (row.input_octets, row.output_octets, row.session_time)
        wanted = (expect.input_octets, expect.output_octets, expect.session_time)
        if expect.status == STOP and row.stopped == 0:
            check._bad("not_stopped", expect, row)
        elif (
            any(a < b for a, b in zip(counters, wanted, strict=True))
            if expect.unconfirmed
            else counters != wanted
        ):
            check._bad("wrong_counters", expect, row)
    return check


# -- one server under load -----------------------------------------------------------------


@dataclass(slots=True)
class AcctMeasurement:
    """One server's numbers. CPU figures are microseconds per answered request."""

    label: str
    settings: str
    phase: Phase[AcctResult] | None = None
    steps: list[Phase[AcctResult]] = field(default_factory=list)  # --find-max
    warmup: AcctResult | None = None
    wind_down: AcctResult | None = None
    peak_rss_mb: float = 0.0
    sessions: int = 0  # sessions with at least one answered packet, all phases
    check: RowCheck | None = None
    storage_note: str = ""  # why rows were not checked
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> AcctResult | None:
        """The measured run (the best step with --find-max)."""
        return self.phase.result if self.phase else None

    def errors(self) -> int:
        """Failed requests in every phase, and acknowledged data lost or duplicated."""
        phases = self.steps or ([self.phase] if self.phase else [])
        runs = [self.warmup, self.wind_down, *(p.result for p in phases)]
        failed = sum(r.errors for r in runs if r is not None)
        if self.check is not None:
            failed += self.check.lost + self.check.duplicated
        return failed


def play(
    target: Target, args: argparse.Namespace, members: Sequence[str]
) -> tuple[AcctMeasurement, dict[str, Expectation]]:
    """Warm-up, the measured phase (or the ramp), the wind-down.

    Returns the server's numbers and what it acknowledged of each session.
    """
    assert target.acct_port is not None
    measurement = AcctMeasurement(target.label, "")
    mix = mix_from_args(args, members)
    where = ("127.0.0.1", target.acct_port)
    with Generators(where, target.secret, mix, args.processes) as gens:
        if args.warmup > 0:
            measurement.warmup = gens.run(args.warmup, args.window)
        if args.find_max:
            # More in flight than sessions open cannot be: each has one packet at a time.
            limit = min(256 * SOCKETS * args.processes, args.sessions)
            windows = [w for w in FIND_MAX_WINDOWS if w <= limit]
            log(f"{target.label}: finding max throughput, windows {windows}")

            def step(seconds: float, window: int) -> AcctResult:
                phase = bracket(target, lambda: gens.run(seconds, window))
                measurement.steps.append(phase)
                log(f"  window {window}: {_brief(phase)}")
                return phase.result

            best, _ = find_max(step, args.step_seconds, windows)
            measurement.phase = next(p for p in measurement.steps if p.result is best)
        else:
            log(f"{target.label}: {args.window} in flight, {args.seconds:g} s")
            measurement.phase = bracket(target, lambda: gens.run(args.seconds, args.window))
            log(f"  {_brief(measurement.phase)}")
        measurement.wind_down = gens.wind_down(args.window)
        expected = gens.expectations()
    measurement.peak_rss_mb = server_peak_rss_mb(target)
    if target.process.poll() is not None:
        measurement.notes.append("the server exited during the run")
    return measurement, expected


def _brief(phase: Phase[AcctResult]) -> str:
    r = phase.result
    return (
        f"{r.requests_per_second:,.0f} req/s, p99 {r.p99_ms:.2f} ms, "
        f"{phase.server_us:.1f} us CPU/req (+{phase.postgres_us:.1f} PostgreSQL), "
        f"{r.retransmissions} retransmissions, {r.timeouts} timeouts"
    )


def check_storage(
    measurement: AcctMeasurement, expected: dict[str, Expectation], database: str, query: str
) -> None:
    """Count and compare the stored rows; a missing or empty table is said, not failed."""
    measurement.sessions = sum(1 for e in expected.values() if e.status)
    stored = settled_rows(database, query)
    if stored is None:
        measurement.storage_note = "not stored (sessions table missing)"
        return
    check = check_rows(expected, stored)
    if check.rows == 0 and check.sessions > 0:
        measurement.storage_note = (
            f"not stored (sessions table empty after {check.sessions:,} acknowledged sessions)"
        )
        return
    measurement.check = check


# -- the servers -----------------------------------------------------------------------------


def measure_freeradius(
    binary: str,
    workdir: Path,
    args: argparse.Namespace,
    members: Sequence[str],
    threads: int | None,
) -> AcctMeasurement:
    """FreeRADIUS rlm_sql accounting on a fresh database with the stock schema."""
    import psycopg

    pool = "default" if threads is None else str(threads)
    label = "FreeRADIUS default" if threads is None else f"FreeRADIUS x{threads}"
    database = f"bench_fr_acct_{pool}_{os.getpid()}"
    with fresh_database(database):
        schema = (freeradius.SQL_DIR / "schema.sql").read_text(encoding="utf-8")
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database, autocommit=True
        ) as conn:
            conn.execute(schema)  # type: ignore[arg-type]  # several statements, no parameters
        with freeradius.running(
            binary,
            workdir,
            backend="acct",
            secret=SECRET,
            threads=threads,
            database=(database, PG_HOST, PG_PORT, PG_USER),
            label=label,
        ) as target:
            log(f"{label}: pid {target.process.pid}, port {target.acct_port}, database {database}")
            result, expected = play(target, args, members)
        check_storage(result, expected, database, FREERADIUS_ROWS)
    if threads is None:
        d = freeradius.DEFAULT_POOL
        result.settings = (
            f"Debian's default thread pool: {d['start_servers']} to {d['max_servers']} workers "
            f"(spare {d['min_spare_servers']}-{d['max_spare']}), stock SQL pool: as many "
            "connections as workers"
        )
    else:
        result.settings = f"{threads} workers, {threads} SQL connections (fixed)"
    return result


def measure_ours(
    workdir: Path, args: argparse.Namespace, members: Sequence[str], csv_path: Path
) -> AcctMeasurement:
    """``radius-server serve`` on a fresh database: schema by the CLI, members, the client."""
    database = f"bench_ours_acct_{os.getpid()}"
    label = "ours" if args.workers == 1 else f"ours x{args.workers}"
    with fresh_database(database):
        cli("db", "upgrade", database=database)
        cli("customer", "import", str(csv_path), database=database)
        cli("nas", "add", "bench", "--address", "127.0.0.1", "--secret", SECRET, database=database)
        with our_server(
            workdir, None, "defaults", label, args.workers, database=database
        ) as target:
            log(f"{label}: radius-server pid {target.process.pid}, port {target.acct_port}")
            result, expected = play(target, args, members)
        result.notes.extend(log_problems(target.logfile, "accounting", ("accounting",)))
        check_storage(result, expected, database, OURS_ROWS)
    result.settings = f"{args.workers} process(es), shipped settings, JSON log line per request"
    return result


# -- report ------------------------------------------------------------------------------------


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def report(results: list[AcctMeasurement], args: argparse.Namespace) -> str:
    """The side-by-side table, with ours / each FreeRADIUS."""
    # (name, cells, values for a ratio column or None)
    rows: list[tuple[str, list[str], list[float] | None]] = []

    def add(
        name: str,
        get: Callable[[AcctMeasurement, Phase[AcctResult]], float],
        digits: int = 0,
        ratio: bool = True,
    ) -> None:
        values = [get(m, m.phase) if m.phase else 0.0 for m in results]
        rows.append((name, [f"{v:,.{digits}f}" for v in values], values if ratio else None))

    def text(name: str, get: Callable[[AcctMeasurement], str]) -> None:
        rows.append((name, [get(m) for m in results], None))

    window = "best window" if args.find_max else f"{args.window} in flight"
    add(f"requests/s ({window})", lambda _, p: p.result.requests_per_second)
    if args.find_max:
        add("  at window", lambda _, p: p.result.window, ratio=False)
    add("p50 latency, ms", lambda _, p: p.result.p50_ms, 2)
    add("p99 latency, ms", lambda _, p: p.result.p99_ms, 2)
    add("max latency, ms", lambda _, p: p.result.max_ms, 1)
    add("server CPU us/req", lambda _, p: p.server_us, 1)
    add("PostgreSQL CPU us/req", lambda _, p: p.postgres_us, 1, ratio=False)
    add("server + PostgreSQL CPU us/req", lambda _, p: p.server_us + p.postgres_us, 1)
    add("peak RSS (VmHWM), MiB", lambda m, _: m.peak_rss_mb, 1)
    add("requests sent", lambda _, p: p.result.sent, ratio=False)
    add("  answered", lambda _, p: p.result.answered, ratio=False)
    add("  retransmitted", lambda _, p: p.result.retransmissions, ratio=False)
    add("  timed out (gave up)", lambda _, p: p.result.timeouts, ratio=False)
    add(
        "  bad or late replies",
        lambda _, p: p.result.bad_authenticators + p.result.late_replies,
        ratio=False,
    )
    text("sessions acknowledged (all phases)", lambda m: f"{m.sessions:,}")
    text("lost sessions", lambda m: _check(m, "lost"))
    text("duplicated sessions", lambda m: _check(m, "duplicated"))
    add("load generator CPU us/req", lambda _, p: p.result.loadgen_cpu_us, 1, ratio=False)
    add("other CPU load, cores (noise)", lambda _, p: p.other_cores, 2, ratio=False)
    ours = next((i for i, m in enumerate(results) if m.label.startswith("ours")), None)
    others = [i for i, m in enumerate(results) if m.label.startswith("FreeRADIUS")]
    if ours is None:
        others = []
    headers = ["", *(m.label for m in results), *(f"ours/{results[i].label}" for i in others)]
    table = [headers]
    for name, cells, values in rows:
        ratios = [
            _ratio(values[ours], values[i]) if values is not None and ours is not None else ""
            for i in others
        ]
        table.append([name, *cells, *ratios])
    return format_table(table)


def _check(m: AcctMeasurement, name: str) -> str:
    if m.check is None:
        return "n/a"
    return f"{getattr(m.check, name):,}"


def print_results(results: list[AcctMeasurement], args: argparse.Namespace, fr: str) -> None:
    """Header lines, the table, settings, storage and error details."""
    print()
    print(
        f"radius-server accounting benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {fr}"
    )
    load = (
        f"the window that gives the most ({args.step_seconds:g} s per step)"
        if args.find_max
        else f"{args.window} requests in flight, {args.seconds:g} s"
    )
    print(
        f"{args.sessions:,} sessions open at once, each Start + 1-4 Interim-Updates + Stop "
        f"(10% past 4 GiB, with Gigawords); {load} after {args.warmup:g} s of warm-up; "
        f"retransmission after {args.timeout:g} s, {args.retries} retries; "
        f"{args.processes} load generator process(es) sharing the machine."
    )
    for m in results:
        print(f"{m.label}: {m.settings}")
    print(f"PostgreSQL: {postgres_settings()}, shared with everything else on the machine.")
    print()
    print(report(results, args))
    print()
    for m in results:
        if m.storage_note:
            print(f"{m.label}: {m.storage_note}; throughput measured only (an upper bound)")
        elif m.check is not None:
            c = m.check
            print(
                f"{m.label}: {c.rows:,} rows for {c.sessions:,} acknowledged sessions: "
                f"{c.lost} lost ({c.missing} missing, {c.not_stopped} not stopped, "
                f"{c.wrong_counters} wrong counters), {c.duplicated} duplicated, "
                f"{c.unexpected} unexpected, {c.unconfirmed} with a packet given up"
            )
            for example in c.examples:
                print(f"  e.g. {example}")
        for note in m.notes:
            print(f"note ({m.label}): {note}")
        if m.steps:
            print(
                f"{m.label} ramp: "
                + "; ".join(
                    f"{p.result.window}: {p.result.requests_per_second:,.0f}/s" for p in m.steps
                )
            )


def postgres_settings() -> str:
    """The server settings that decide what a commit costs."""
    import psycopg

    names = ("server_version", "synchronous_commit", "fsync", "wal_sync_method", "commit_delay")
    try:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB) as conn:
            values = [conn.execute(f"SHOW {name}").fetchone() for name in names]  # type: ignore[arg-type]
    except Exception as exc:  # the table still prints without this line
        return f"settings unknown ({type(exc).__name__})"
    return ", ".join(f"{n} {v[0] if v else '?'}" for n, v in zip(names, values, strict=True))


def to_json(results: list[AcctMeasurement], args: argparse.Namespace, fr: str) -> dict:
    """Everything measured, for the record."""

    def phase(p: Phase[AcctResult] | None) -> dict | None:
        if p is None:
            return None
        return {
            **p.result.summary(),
            "server_cpu_us": round(p.server_us, 1),
            "server_side_thread_cpu_us": round(p.side_us, 1),
            "postgres_cpu_us": round(p.postgres_us, 1),
            "other_cores": round(p.other_cores, 2),
        }

    return {
        **json_header(args, fr),
        "results": [
            {
                "label": m.label,
                "settings": m.settings,
                "measured": phase(m.phase),
                "steps": [phase(p) for p in m.steps],
                "wind_down": m.wind_down.summary() if m.wind_down else None,
                "peak_rss_mb": round(m.peak_rss_mb, 1),
                "rows": None
                if m.check is None
                else {k: v for k, v in vars_of(m.check).items() if k != "examples"},
                "storage_note": m.storage_note,
                "notes": m.notes,
            }
            for m in results
        ],
    }


def vars_of(check: RowCheck) -> dict[str, object]:
    """A RowCheck's fields (it has slots, so no ``vars``)."""
    return {name: getattr(check, name) for name in RowCheck.__dataclass_fields__}


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(
        description="Accounting benchmark: radius-server against FreeRADIUS rlm_sql."
    )
    add_load_options(parser)
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (2)")
    parser.add_argument("--workers", type=int, default=1, help="our server's processes (1)")
    parser.add_argument(
        "--freeradius-threads",
        type=int,
        default=freeradius.DEFAULT_THREADS,
        help="FreeRADIUS fixed pool: workers and SQL connections (8)",
    )
    add_output_options(
        parser,
        ("ours", "fixed", "default"),
        "measure only these: ours, FreeRADIUS with the fixed pool, with the default one",
    )
    args = parser.parse_args(argv)
    check_load_options(parser, args)
    return args


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every request was answered and nothing stored was lost."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    wanted = set(args.only or ("ours", "fixed", "default"))
    binary = freeradius.find_binary() if wanted & {"fixed", "default"} else None
    if wanted & {"fixed", "default"} and binary is None:
        log(f"FreeRADIUS with rlm_sql_postgresql is not installed: {freeradius.APT_HINT}")
        wanted &= {"ours"}
    fr = freeradius.version(binary) if binary else "FreeRADIUS not measured"
    results: list[AcctMeasurement] = []
    with scratch_dir("radius-acct-bench-", args.keep) as workdir:
        try:
            csv_path = workdir / "customers.csv"
            members = [c.email for c in write_customers(csv_path, args.members)]
            if "ours" in wanted:
                results.append(measure_ours(workdir, args, members, csv_path))
            if binary is not None:
                if "fixed" in wanted:
                    results.append(
                        measure_freeradius(binary, workdir, args, members, args.freeradius_threads)
                    )
                if "default" in wanted:
                    results.append(measure_freeradius(binary, workdir, args, members, None))
        except KeyboardInterrupt:
            log("interrupted: cleaning up")
            return 130
    print_results(results, args, fr)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(results, args, fr), indent=2))
    return 1 if any(m.errors() for m in results) else 0


if __name__ == "__main__":
    sys.exit(main())
