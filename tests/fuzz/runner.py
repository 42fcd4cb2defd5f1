"""Run a fuzz target in a child process under atheris and read libFuzzer's final statistics.

A child process, so a crash (or libFuzzer's RSS limit) ends that run, not the
test session, and leaves a reproducer file whose path and bytes go into the
report. New inputs the fuzzer finds go to a scratch directory; the checked-in
corpus is only read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
# The engine and the decoder must see whole 4096-octet packets; larger inputs only slow it.
MAX_LEN = 4200
# "Memory bounded": libFuzzer stops the run (a crash) past this resident size.
RSS_LIMIT_MB = 1024

_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass(frozen=True)
class FuzzRun:
    """What one run of one target did."""

    target: str
    returncode: int
    execs: int
    execs_per_second: int
    peak_rss_mb: int
    new_units: int
    seconds: float
    reproducer: Path | None
    output: str

    @property
    def crashed(self) -> bool:
        """True when the target broke an invariant (or the run died)."""
        return self.returncode != 0 or self.reproducer is not None

    def report(self) -> str:
        """The failure message: the error, and how to replay its reproducer."""
        lines = [f"fuzz target {self.target} failed (exit {self.returncode})"]
        if self.reproducer is not None:
            data = self.reproducer.read_bytes() if self.reproducer.exists() else b""
            lines += [
                f"reproducer: {self.reproducer} ({len(data)} octets) hex={data.hex()}",
                f"replay: .venv/bin/python -m tests.fuzz.run {self.target} {self.reproducer}",
            ]
        lines.append(self.output[-6000:])
        return "\n".join(lines)


def run_target(
    target: str, seconds: float, workdir: Path, *, extra: tuple[str, ...] = ()
) -> FuzzRun:
    """Fuzz ``target`` for about ``seconds`` seconds, starting from its checked-in corpus."""
    scratch = workdir / target
    scratch.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        target,
        f"-max_total_time={max(1, round(seconds))}",
        f"-max_len={MAX_LEN}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        # One slow input is a hang, not a crash we could miss: report it after 30 s.
        "-timeout=30",
        "-print_final_stats=1",
        f"-artifact_prefix={workdir}/{target}-",
        *extra,
        str(scratch),
        str(CORPUS / target),
    ]
    proc = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        # libFuzzer stops itself; the margin covers start-up (certificates) and a slow box.
        timeout=seconds + 120,
        check=False,
        env={**os.environ, "RADIUS_FUZZ_WORKDIR": str(workdir)},
    )
    output = proc.stdout + proc.stderr
    stats = {key: int(value) for key, value in _STAT.findall(output)}
    found = _ARTIFACT.search(output)
    return FuzzRun(
        target=target,
        returncode=proc.returncode,
        execs=stats.get("number_of_executed_units", 0),
        execs_per_second=stats.get("average_exec_per_sec", 0),
        peak_rss_mb=stats.get("peak_rss_mb", 0),
        new_units=stats.get("new_units_added", 0),
        seconds=seconds,
        reproducer=Path(found.group(1)) if found else None,
        output=output,
    )
