"""How long a full reload stalls the event loop: a 1 ms heartbeat's lateness, in one process.

    .venv/bin/python bench/reload_stall.py --customers 100000 [--baseline-src DIR]

Seeds its own database (``radius_bench_stall``, dropped at the end) with COPY like
``customers_sweep.py``, then, in a child process per code version (``--baseline-src``:
that checkout's ``radius_server`` first on ``PYTHONPATH``, as ``before``): one full
load, 2 s of an idle heartbeat (an asyncio task sleeping 1 ms, recording how late it
wakes), then a forced full reload (``DirectorySync.poll_once`` with
``needs_full_reload``) with the heartbeat running. A request arriving during a stall
waits as long as the heartbeat does. The idle figures show what the machine alone
does (other programs, this one's own threads); CPU seconds and RSS are the child's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customers_sweep as sweep

DB_NAME = "radius_bench_stall"


def _late(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# A request's system calls after the loop wakes for it: the datagram read, the reply
# sent, the log line written. Each lets a busy worker thread take the GIL, and the
# loop waits for it again (up to the switch interval) after every one.
REQUEST_SYSCALLS = 4


async def _heartbeat(
    stop: asyncio.Event, late: list[float], served: list[float] | None = None
) -> None:
    import socket

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = sink.getsockname()
    try:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            woke = time.perf_counter()
            late.append((woke - started - 0.001) * 1000)
            if served is not None:
                for _ in range(REQUEST_SYSCALLS // 2):
                    out.sendto(b"x" * 40, address)
                    sink.recv(64)
                served.append((time.perf_counter() - started - 0.001) * 1000)
    finally:
        sink.close()
        out.close()


def _status_mb(key: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _measure(url: str) -> dict[str, float]:
    """In the child: load, idle heartbeat, reload under the heartbeat; the figures."""
    from radius_server.rules.directory import Directory
    from radius_server.runtime import sync as sync_module
    from radius_server.store import database
    from radius_server.store.feed import ChangeFeed

    class _Quiet:
        def __getattr__(self, _name: str):  # type: ignore[no-untyped-def]
            return lambda *_a, **_k: None

    feed = ChangeFeed(database.make_session_factory(database.make_engine(url)))
    options = {"manage_gc": True} if hasattr(feed, "member_page") else {}
    # The older code bounds its one-statement load by 3 deadlines: give it all the time.
    sync_module.FULL_LOAD_DEADLINES = 1
    from radius_server.runtime.snapshot_file import SnapshotFile

    folder = Path(tempfile.mkdtemp(prefix="radius-stall-snapshot-"))
    try:
        return await _measure_sync(
            sync_module.DirectorySync(
                feed,
                Directory(),
                _Quiet(),
                deadline=3600,
                snapshot=SnapshotFile(folder / "directory-snapshot.json"),
                **options,
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _measure_sync(sync: Any) -> dict[str, float]:
    """Load, idle heartbeat, reload under it, then the snapshot write that follows it."""
    cpu = time.process_time()
    await sync.poll_once()
    await sync.wait_saved()
    if sync.directory.degraded or not sync.directory.ready:
        raise RuntimeError(f"the full load failed: {sync.last_error}")
    figures = {"members": float(len(sync.directory.members))}
    figures["load_cpu_s"] = time.process_time() - cpu
    figures["rss_mb"] = _status_mb("VmRSS")
    stop, idle = asyncio.Event(), []
    beat = asyncio.create_task(_heartbeat(stop, idle))
    await asyncio.sleep(2.0)
    stop.set()
    await beat
    sync.cursor.needs_full_reload = True
    stop, late, served = asyncio.Event(), [], []
    beat = asyncio.create_task(_heartbeat(stop, late, served))
    started, cpu = time.perf_counter(), time.process_time()
    await sync.poll_once()
    figures["reload_s"] = time.perf_counter() - started
    figures["reload_cpu_s"] = time.process_time() - cpu
    if sync.directory.degraded:
        raise RuntimeError(f"the full reload failed: {sync.last_error}")
    stop.set()
    await beat
    # The server writes its snapshot file right after a full load, still answering.
    stop, saving, saving_served = asyncio.Event(), [], []
    beat = asyncio.create_task(_heartbeat(stop, saving, saving_served))
    started = time.perf_counter()
    await sync.wait_saved()
    figures["save_s"] = time.perf_counter() - started
    await asyncio.sleep(0.2)
    stop.set()
    await beat
    figures |= {
        "idle_p99_ms": _late(idle, 0.99),
        "idle_max_ms": max(idle),
        "reload_p50_ms": _late(late, 0.5),
        "reload_p99_ms": _late(late, 0.99),
        "reload_max_ms": max(late),
        "request_p50_ms": _late(served, 0.5),
        "request_p99_ms": _late(served, 0.99),
        "request_max_ms": max(served),
        "save_request_p50_ms": _late(saving_served, 0.5),
        "save_request_p99_ms": _late(saving_served, 0.99),
        "save_request_max_ms": max(saving_served),
        "hwm_mb": _status_mb("VmHWM"),
        "rss_after_mb": _status_mb("VmRSS"),
    }
    return figures


def run_child(source: Path | None, url: str) -> dict[str, float]:
    """This script's ``--child`` in a fresh interpreter, with ``source`` first on the path."""
    env = dict(os.environ)
    root = str(source) if source else str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root
    done = subprocess.run(
        [sys.executable, __file__, "--child", url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Seed, measure before (optional) and ours, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--baseline-src", type=Path, metavar="DIR")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child))))
        return 0
    sweep.DB_NAME = DB_NAME  # seed() and cli() use the module's database name
    sweep.log(f"load average {os.getloadavg()[0]:.2f}")
    columns: dict[str, dict[str, float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="radius-stall-"))
    try:
        sweep.admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        sweep.admin_sql(f'CREATE DATABASE "{DB_NAME}"')
        sweep.seed(args.customers, workdir)
        url = sweep.database_url()
        for label, source in (("before", args.baseline_src), ("ours", None)):
            if label == "before" and source is None:
                continue
            sweep.log(f"{label}: measuring")
            columns[label] = run_child(source, url)
    finally:
        with contextlib.suppress(Exception):
            sweep.admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    rows = [
        ("members", "members", "{:,.0f}"),
        ("first load, CPU s", "load_cpu_s", "{:.2f}"),
        ("RSS after it, MiB", "rss_mb", "{:.0f}"),
        ("heartbeat late, idle: p99 / max ms", ("idle_p99_ms", "idle_max_ms"), "{:.1f} / {:.1f}"),
        ("full reload, s (CPU s)", ("reload_s", "reload_cpu_s"), "{:.2f} ({:.2f})"),
        ("heartbeat late during it: p50 ms", "reload_p50_ms", "{:.2f}"),
        ("  p99 ms", "reload_p99_ms", "{:.2f}"),
        ("  max ms (the longest stall)", "reload_max_ms", "{:.1f}"),
        (
            f"late + {REQUEST_SYSCALLS} syscalls (a request): p50 / p99 / max ms",
            ("request_p50_ms", "request_p99_ms", "request_max_ms"),
            "{:.2f} / {:.2f} / {:.1f}",
        ),
        ("snapshot write after it, s", "save_s", "{:.2f}"),
        (
            "  a request meanwhile: p50 / p99 / max ms",
            ("save_request_p50_ms", "save_request_p99_ms", "save_request_max_ms"),
            "{:.2f} / {:.2f} / {:.1f}",
        ),
        ("peak RSS (VmHWM), MiB", "hwm_mb", "{:.0f}"),
        ("RSS after the reload, MiB", "rss_after_mb", "{:.0f}"),
    ]
    table = [["", *columns]]
    for name, keys, fmt in rows:
        cells = []
        for figures in columns.values():
            picked = [figures[k] for k in (keys if isinstance(keys, tuple) else (keys,))]
            cells.append(fmt.format(*picked))
        table.append([name, *cells])
    print(sweep.format_table(table))
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
