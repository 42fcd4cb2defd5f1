"""Instructions per request of the engine, counted by valgrind: a cost that noise cannot move.

    .venv/bin/python bench/engine_instructions.py [--requests 2000] [--baseline-src DIR]

On a shared machine the timed benchmarks (``run.py``, ``engine_micro.py``) swing by 20%
from one run to the next; an instruction count does not. This runs ``engine_micro.py``'s
engine (PAP accepts through ``Engine.handle_auth``, no socket, a logger that drops
everything) under ``valgrind --tool=callgrind`` twice per case: once building N requests
and handling them, once only building them. The difference divided by N is what the engine
executes per request (start-up, imports and the requests' construction cancel out). Cases:
``engine_micro.py``'s plan rows (no plans, the default plan, a plan with VLAN, bandwidth
and hours), and with ``--baseline-src DIR`` (``git archive COMMIT | tar -x -C DIR``) that
checkout's engine without plans. Instructions are not time (a cache miss costs more than an
add), but the same code path executes the same instructions: a change shows as a ratio.
Needs valgrind (Debian package ``valgrind``; not a project dependency). About 40 s per run
of valgrind, two per case.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
CHECKOUT = HERE.parent.parent


def child(source: str, count: int, plan: str | None, handle: bool) -> None:
    """Under valgrind: build ``count`` PAP requests with ``source``'s engine_micro, and
    handle them unless ``handle`` is false."""
    sys.path.insert(0, source)
    micro = runpy.run_path(f"{source}/bench/engine_micro.py", run_name="engine_micro")
    engine = micro["build"](plan=plan) if plan else micro["build"]()
    packets = micro["requests"](count, "pap")
    if handle:
        for port, packet in enumerate(packets):
            assert engine.handle_auth(packet, (micro["NAS"], 1024 + port)) is not None


def instructions(source: Path, count: int, plan: str | None, handle: bool) -> int:
    """Instructions valgrind counted for one child run."""
    argv = [sys.executable, str(HERE), "--child", str(source), str(count), plan or "-"]
    argv += ["handle" if handle else "build"]
    # The checkout's own package first: the baseline's, not the installed one.
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed: {done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(source: Path, count: int, plan: str | None) -> float:
    """The engine's instructions per request for one case."""
    both = instructions(source, count, plan, handle=True)
    built = instructions(source, count, plan, handle=False)
    return (both - built) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--baseline-src", metavar="DIR", help="an older checkout to compare")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        source, count, plan, mode = args.child
        child(source, int(count), None if plan == "-" else plan, mode == "handle")
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 1
    micro = runpy.run_path(str(CHECKOUT / "bench" / "engine_micro.py"), run_name="engine_micro")
    cases: list[tuple[str, Path, str | None]] = []
    if args.baseline_src:
        cases.append(("baseline, no plans", Path(args.baseline_src).resolve(), None))
    cases.append(("no plans", CHECKOUT, None))
    cases += [(f"plan {name}", CHECKOUT, name) for name in micro.get("PLANS", {})]
    first: float | None = None
    for label, source, plan in cases:
        cost = per_request(source, args.requests, plan)
        first = first or cost
        print(f"{label:32s} {cost:10,.0f} instructions/request  {cost / first - 1:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
