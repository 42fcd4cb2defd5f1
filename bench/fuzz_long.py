"""Long fuzzing run: every target (or the ones named) under atheris for a given time each.

Usage::

    .venv/bin/python bench/fuzz_long.py [--seconds 600] [--keep DIR] [--json] [TARGET ...]

Prints, per target: inputs executed, executions per second, crashes (with the
reproducer and the replay command), new corpus units found and peak RSS. New
inputs go to a scratch directory, removed at the end unless a target crashed
(``--keep DIR`` to keep them, e.g. to merge the interesting ones into
tests/fuzz/corpus with libFuzzer's ``-merge=1``). Exits 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.runner import FuzzRun, run_target  # noqa: E402
from tests.fuzz.targets import TARGETS  # noqa: E402


def _row(run: FuzzRun) -> str:
    return (
        f"{run.target:<14} {run.execs:>10} {run.execs_per_second:>8} "
        f"{int(run.crashed):>7} {run.new_units:>6} {run.peak_rss_mb:>8}"
    )


def main() -> int:
    """Run the targets one after the other; print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=float, default=600.0, help="per target")
    parser.add_argument("--keep", type=Path, help="keep scratch corpora and crash files here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="radius-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.json:
        print(f"{'target':<14} {'execs':>10} {'exec/s':>8} {'crashes':>7} {'new':>6} {'rss MB':>8}")
    runs = []
    for name in names:
        run = run_target(name, args.seconds, workdir)
        runs.append(run)
        if not args.json:
            print(_row(run), flush=True)
            if run.crashed:
                print(run.report(), flush=True)
    total = sum(run.execs for run in runs)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "target": run.target,
                        "seconds": run.seconds,
                        "execs": run.execs,
                        "execs_per_second": run.execs_per_second,
                        "crashes": int(run.crashed),
                        "reproducer": str(run.reproducer) if run.reproducer else None,
                        "new_units": run.new_units,
                        "peak_rss_mb": run.peak_rss_mb,
                    }
                    for run in runs
                ],
                indent=2,
            )
        )
    else:
        print(f"total: {total} inputs, {sum(run.crashed for run in runs)} crashes")
    crashed = any(run.crashed for run in runs)
    if args.keep is None and not crashed:
        shutil.rmtree(workdir, ignore_errors=True)
    elif not args.json:
        print(f"kept: {workdir}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
