"""CSV import at scale: wall time, CPU and peak RSS of ``radius-server customer import``.

For each back end (PostgreSQL, SQLite) and each size N, three imports, each a fresh
``radius-server customer import`` process measured from outside (``os.wait4``: its
user+system CPU and its peak RSS, ``ru_maxrss``, the VmHWM of the process):

- ``fresh``: N new members into an empty directory;
- ``same``: the same file again (every row unchanged: no write at all);
- ``10%``: the file with every tenth member changed (half renamed, half disabled:
  feed rows and disconnect jobs).

The file has the columns email,name,pin,active. PINs come from a random permutation of
all 100,000 codes; up to 50,000 members, one row in ten leaves the PIN empty (drawn by
the import). Beyond that the space is too full to draw one for every tenth member
(100,000 members hold every code), so every row gives its PIN.

Standalone::

    .venv/bin/python bench/import_bench.py --sizes 10000,100000
    .venv/bin/python bench/import_bench.py --sizes 10000 --backend sqlite --source /tmp/before

``--source DIR`` runs the ``radius_server`` package of another checkout (first on
PYTHONPATH), for before/after columns. ``bench/run.py --import-sizes N,...`` calls
:func:`run_import_bench` and prints the same table. Each PostgreSQL run uses its own
database ``radius_bench_import_<pid>_<n>``, dropped afterwards (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import format_table, log

VENV_BIN = Path(sys.executable).parent
PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
PIN_SPACE = 100_000
# Up to this many members, every tenth row leaves its PIN to be drawn.
DRAW_UP_TO = 50_000
SCENARIOS = ("fresh", "same", "10%")


@dataclass(frozen=True, slots=True)
class ImportRun:
    """One measured ``customer import``."""

    backend: str
    rows: int
    scenario: str
    label: str  # the package measured: "ours", or "before" with --source
    wall_s: float
    cpu_s: float  # user + system of the import process (not the database's)
    peak_rss_mb: float
    created: int
    updated: int
    unchanged: int
    load: float  # 1-minute load average when it started


def admin_sql(statement: str) -> None:
    """One statement on the admin database, outside a transaction."""
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB, autocommit=True
    ) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def write_files(directory: Path, count: int, seed: int = 7) -> dict[str, Path]:
    """The fresh file (re-imported as "same") and the 10% file; their paths by scenario."""
    if count > PIN_SPACE:
        raise ValueError(f"at most {PIN_SPACE} members: every one needs its own 5-digit PIN")
    rng = random.Random(seed)
    codes = [f"{n:05d}" for n in rng.sample(range(PIN_SPACE), count)]
    drawn = count <= DRAW_UP_TO
    fresh = directory / f"members-{count}.csv"
    changed = directory / f"members-{count}-10pc.csv"
    with fresh.open("w", encoding="utf-8") as a, changed.open("w", encoding="utf-8") as b:
        a.write("email,name,pin,active\n")
        b.write("email,name,pin,active\n")
        for i, code in enumerate(codes):
            pin = "" if drawn and i % 10 == 9 else code
            email, name = f"member{i:06d}@bench.test", f"Member {i}"
            a.write(f"{email},{name},{pin},yes\n")
            if i % 10 == 0:  # every tenth: renamed or disabled, alternately
                name, active = (f"{name} (renamed)", "yes") if i % 20 == 0 else (name, "no")
            else:
                active = "yes"
            b.write(f"{email},{name},{pin},{active}\n")
    return {"fresh": fresh, "same": fresh, "10%": changed}


def _env(url: str, source: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIUS_")}
    env["RADIUS_DATABASE_URL"] = url
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def _run(args: list[str], env: dict[str, str]) -> tuple[str, float, float, float]:
    """Run ``radius-server ARGS``: (stdout, wall s, CPU s, peak RSS MB) of that process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(VENV_BIN / "radius-server"), *args], stdout=out, stderr=err, env=env
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"radius-server {' '.join(args[:3])} failed: {stderr.strip()[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return stdout, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


@contextlib.contextmanager
def _database(backend: str, count: int, workdir: Path) -> Iterator[str]:
    """A new, empty database for one size; its URL. Dropped (or deleted) afterwards."""
    if backend == "sqlite":
        path = workdir / f"import-{count}.sqlite"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"radius_bench_import_{os.getpid()}_{count}"
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with contextlib.suppress(Exception):
            admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_import_bench(
    sizes: list[int], backends: list[str], *, source: Path | None = None
) -> list[ImportRun]:
    """Measure the three imports for every back end and size; one row each."""
    label = "before" if source is not None else "ours"
    runs: list[ImportRun] = []
    workdir = Path(tempfile.mkdtemp(prefix="radius-import-bench-"))
    try:
        for count in sizes:
            files = write_files(workdir, count)
            for backend in backends:
                with _database(backend, count, workdir) as url:
                    env = _env(url, source)
                    _run(["db", "upgrade"], env)
                    for scenario in SCENARIOS:
                        load = os.getloadavg()[0]
                        args = ["--json", "customer", "import", str(files[scenario])]
                        out, wall, cpu, rss = _run(args, env)
                        report = json.loads(out)
                        run = ImportRun(
                            backend,
                            count,
                            scenario,
                            label,
                            wall,
                            cpu,
                            rss,
                            report["created"],
                            report["updated"],
                            report["unchanged"],
                            load,
                        )
                        log(
                            f"import {label} {backend} {count:,} {scenario}: {wall:.1f} s, "
                            f"CPU {cpu:.1f} s, peak RSS {rss:.0f} MB (load {load:.1f})"
                        )
                        runs.append(run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return runs


def import_table(runs: list[ImportRun]) -> str:
    """The runs as an aligned table, with the targets (100,000 rows: <= 30 s, <= 150 MB)."""
    table = [
        ["import", "rows", "file", "wall s", "CPU s", "peak RSS MB", "created/updated/same", "load"]
    ]
    for r in runs:
        table.append(
            [
                f"{r.label} {r.backend}",
                f"{r.rows:,}",
                r.scenario,
                f"{r.wall_s:.1f}",
                f"{r.cpu_s:.1f}",
                f"{r.peak_rss_mb:.0f}",
                f"{r.created}/{r.updated}/{r.unchanged}",
                f"{r.load:.1f}",
            ]
        )
    lines = [format_table(table), ""]
    lines.append(
        "target: 100,000 rows in <= 30 s and <= 150 MB peak RSS (the import process), "
        "all or nothing"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the import benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="members, comma-separated")
    parser.add_argument(
        "--backend",
        action="append",
        choices=("postgresql", "sqlite"),
        help="repeatable (default: both)",
    )
    parser.add_argument("--source", type=Path, help="measure this checkout's radius_server")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    try:
        runs = run_import_bench(sizes, args.backend or ["postgresql", "sqlite"], source=args.source)
    except KeyboardInterrupt:
        log("interrupted: cleaned up")
        return 130
    print(import_table(runs))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
