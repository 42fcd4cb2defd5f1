"""``serve --workers N``: N server processes sharing the RADIUS ports (SO_REUSEPORT).

One Python process uses one core. With N workers the kernel spreads datagrams
over them by source address and port, so each NAS socket keeps one worker
(its reply cache stays valid). EAP goes further: each device's Access-Requests
are handled by the worker owning it (a hash of its Calling-Station-Id), the
others forward them over Unix sockets, so a device roaming between access
points resumes its TLS session on the worker that holds it (runtime/affinity.py).
Each worker is a full server: its own in-memory directory, and guessing
protection shared through the database like separate instances (see the
README's security model).

The supervisor checks the ports are free first (without SO_REUSEPORT, so a
second server still fails loudly), starts the workers, forwards SIGTERM and
SIGINT, and stops everything if one worker dies. It also serves /metrics,
/healthz and /readyz for all of them (runtime/metrics_merge.py): each worker
answers on a Unix socket in a private directory, the supervisor merges. The
workers' peer sockets (device affinity) are in the same directory; each worker
is told its index, the count and the directory on its command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from radius_server.config import Settings
from radius_server.runtime.metrics_http import MetricsServer, serve_tcp
from radius_server.runtime.metrics_merge import SupervisorEndpoints
from radius_server.runtime.transport import make_socket


def claim_ports(settings: Settings) -> tuple[int, int]:
    """Check both ports are free (resolving port 0 to a real one); release them."""
    auth = make_socket(settings.host, settings.auth_port)
    try:
        acct = make_socket(settings.host, settings.acct_port)
    except OSError:
        auth.close()
        raise
    ports = auth.getsockname()[1], acct.getsockname()[1]
    auth.close()
    acct.close()
    return ports


def run_workers(settings: Settings, workers: int, log: Any) -> int:
    """Run ``workers`` server processes until a signal; return the exit status."""
    auth_port, acct_port = claim_ports(settings)
    argv = [
        sys.executable,
        "-m",
        "radius_server",
        "serve",
        "--worker",
        "--host",
        settings.host,
        "--auth-port",
        str(auth_port),
        "--acct-port",
        str(acct_port),
    ]
    metrics: MetricsServer | None = None
    # 0700: only this user may ask a worker for metrics or hand it a NAS's datagram.
    sockets_dir = Path(tempfile.mkdtemp(prefix="radius-server-workers-"))
    sockets = [str(sockets_dir / f"worker-{n}.sock") for n in range(workers)]
    argv += ["--worker-count", str(workers), "--peer-dir", str(sockets_dir)]
    try:
        if settings.metrics_enabled:
            # Bound before any worker starts: a port in use fails like a RADIUS port.
            endpoints = SupervisorEndpoints(sockets)
            metrics = serve_tcp(settings.metrics_host, settings.metrics_port, endpoints, log)
            log.info("metrics_started", host=settings.metrics_host, port=metrics.port)
        return _supervise(log, workers, argv, sockets, auth_port, acct_port)
    finally:
        if metrics is not None:
            metrics.close()
        shutil.rmtree(sockets_dir, ignore_errors=True)


def _supervise(
    log: Any, workers: int, argv: list[str], sockets: list[str], auth_port: int, acct_port: int
) -> int:
    """Start the workers, forward signals, wait for all of them; return the exit status."""
    children = [
        subprocess.Popen([*argv, "--worker-index", str(n), "--metrics-socket", path])
        for n, path in enumerate(sockets)
    ]
    log.info(
        "workers_started",
        workers=workers,
        pids=[c.pid for c in children],
        auth_port=auth_port,
        acct_port=acct_port,
    )
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            codes = [child.poll() for child in children]
            if all(code is not None for code in codes):
                break
            if not stopping and any(code is not None for code in codes):
                log.error("worker_exited", codes=codes)
                forward(signal.SIGTERM, None)
            # Sleep until a worker exits rather than waking 10 times a second (WNOWAIT:
            # poll() above reaps it); a signal runs forward() meanwhile (PEP 475 resumes).
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    codes = [child.returncode for child in children]
    log.info("workers_stopped", codes=codes)
    return 0 if stopping and all(code == 0 for code in codes) else 1
