"""The end-to-end helper waits for log lines with a deadline instead of a fixed sleep."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.server_process import ServerProcess

# Prints two JSON lines: the second one well after the old fixed 0.1 s settle time,
# or, when told to wait, once a line arrives on its stdin.
LOGGER = (
    "import json, sys, time\n"
    "print(json.dumps({'event': 'access', 'n': 1}), flush=True)\n"
    "sys.stdin.readline() if sys.argv[1:] == ['wait'] else time.sleep(0.6)\n"
    "print(json.dumps({'event': 'access', 'n': 2}), flush=True)\n"
)


def _process(*args: str) -> ServerProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOGGER, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return ServerProcess(proc)


def test_find_waits_for_a_late_line() -> None:
    """A line logged after 0.6 s is found (a fixed 0.1 s settle missed it)."""
    server = _process()
    try:
        assert [e["n"] for e in server.find("access", n=2)] == [2]
    finally:
        server.stop()


def test_find_counts_since_and_where() -> None:
    """``at_least`` waits for enough lines; ``since`` and ``where`` narrow the search."""
    server = _process("wait")
    try:
        first = server.wait_for("access", n=1)
        mark = server.mark()
        assert first["n"] == 1 and mark == 1
        assert server.proc.stdin is not None
        server.proc.stdin.write("go\n")
        server.proc.stdin.flush()
        assert len(server.find("access", at_least=2)) == 2
        assert [e["n"] for e in server.find("access", since=mark)] == [2]
        assert server.find("access", where=lambda e: e["n"] > 5, timeout=0.1) == []
    finally:
        server.stop()
