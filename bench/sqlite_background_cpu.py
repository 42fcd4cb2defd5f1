"""Served CPU of a SQLite server's background threads under paced traffic.

One ``radius-server serve`` on a fresh SQLite file (log level info, no reject delay),
``--rate`` PAP requests a second for ``--seconds``: nine of ten a member's right PIN,
one of ten a wrong PIN of an unknown user, so the decisions writer and the guard
write every interval as under real traffic. Prints the CPU of the main thread (the
requests) and of every other thread (the background loops, the writers, the
watcher), per request and per second, from the scheduler's nanosecond run time of
each thread (``/proc/PID/task/TID/schedstat``). The tree measured is the one on
``PYTHONPATH`` (run it once per checkout to compare):

    PYTHONPATH=. .venv/bin/python bench/sqlite_background_cpu.py [--rate 40] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import thread_schedstats

from tests.conftest import Cli
from tests.integration.server_process import running_server
from tests.integration.udp_client import ask, prepare_site


def run_times(pid: int) -> dict[int, int]:
    """Nanoseconds on a CPU so far, per thread of ``pid``."""
    return {tid: ran for tid, (ran, _waited) in thread_schedstats(pid).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="radius-bg-bench-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'radius.db'}"
        pin = prepare_site(Cli(url, work))
        env = {"RADIUS_LOG_LEVEL": "info", "RADIUS_REJECT_DELAY": "0"}
        with running_server(url, work / "s", **env) as server:
            server.wait_for("watch_started", timeout=20)
            pid = server.proc.pid
            time.sleep(3)  # start-up's reads done
            before, start = run_times(pid), time.monotonic()
            sent = 0
            while time.monotonic() < start + args.seconds:
                if sent % 10 == 9:
                    station = f"02-00-00-00-{sent >> 8 & 255:02x}-{sent & 255:02x}"
                    ask(server.auth_port, f"nobody{sent}@example.com", "12345", station)
                else:
                    ask(server.auth_port, "ana@example.com", pin, "02-00-00-00-00-01")
                sent += 1
                time.sleep(max(0.0, start + sent / args.rate - time.monotonic()))
            after, took = run_times(pid), time.monotonic() - start
    main_ms = (after[pid] - before.get(pid, 0)) / 1e6
    rest_ms = sum(ns - before.get(tid, 0) for tid, ns in after.items() if tid != pid) / 1e6
    print(
        f"{sent} requests in {took:.1f} s: main thread {main_ms / sent:.3f} ms/request, "
        f"other threads {rest_ms / sent:.3f} ms/request ({rest_ms / took:.1f} ms/s)"
    )


if __name__ == "__main__":
    main()
