"""Where our server spends its time: py-spy attached during an extra closed-loop phase.

Optional (``run.py --profile DIR``): py-spy is not a project dependency; install
it into the venv with ``.venv/bin/pip install py-spy``. The phase is separate
from the measured ones so sampling cannot distort the table.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness import Target, stop_process
from loadgen import Credential, LoadGenerator, Method


def find_py_spy() -> str | None:
    """py-spy next to this interpreter, or on PATH."""
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def profile_server(
    target: Target,
    credentials: list[Credential],
    *,
    duration: float,
    concurrency: int,
    method: Method,
    outdir: Path,
) -> str:
    """Sample ``target`` under closed-loop load; return the top functions as text."""
    py_spy = find_py_spy()
    if py_spy is None:
        return "py-spy is not installed (.venv/bin/pip install py-spy): no profile"
    raw = outdir / "ours.py-spy.txt"
    spy = subprocess.Popen(
        [
            *(py_spy, "record", "--nonblocking", "--rate", "250", "--format", "raw"),
            *("--output", str(raw), "--duration", str(max(1, int(duration)))),
            *("--pid", str(target.process.pid)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # let py-spy attach
        with LoadGenerator(
            ("127.0.0.1", target.port), target.secret, credentials, method=method
        ) as gen:
            gen.run(duration, concurrency=concurrency)
        spy.wait(duration + 15)
    finally:
        stop_process(spy)
    if not raw.exists():
        return "py-spy wrote nothing (is ptrace allowed here?)"
    return summarize(raw.read_text(errors="replace"))


def summarize(collapsed: str, top: int = 20) -> str:
    """Self and inclusive sample shares per function, from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
    if not total:
        return "no samples"
    lines = [f"{total} samples. self% incl%  function (top {top} by self time)"]
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f} {100 * inclusive[name] / total:5.1f}  {name}")
    lines.append(f"top {top} by inclusive time:")
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"        {100 * count / total:5.1f}  {name}")
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    """'function (path/to/file.py:123)' -> 'function (to/file.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"
