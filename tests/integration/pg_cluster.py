"""A private, throw-away PostgreSQL cluster that a test may stop, freeze and crash.

The shared server on 127.0.0.1:5432 is used by every other test and must never
be disturbed, so fault-injection tests start their own: ``initdb`` into a
temporary directory as the ``postgres`` OS user, on a free port, with its
socket directory inside that temporary directory. The fixture's finalizer
thaws, stops and removes it whatever the test did.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One private cluster: start, stop, crash, freeze, thaw, and its URL."""

    def __init__(self, bindir: Path, base: Path, port: int) -> None:
        self.bindir = bindir
        self.base = base
        self.data = base / "data"
        self.port = port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        self._frozen: list[int] = []

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        """initdb with trust authentication (loopback only)."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=50 -c shared_buffers=16MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "log"), "-w",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop``; mode ``immediate`` is a crash (no checkpoint, recovery at start)."""
        self.thaw()
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def crash(self) -> None:
        """Kill the postmaster and every backend at once, as a power cut would."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def pids(self) -> list[int]:
        """The postmaster and all its children."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return []
        postmaster = int(pid_file.read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: sockets stay open, nothing answers."""
        self._frozen = self.pids()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what freeze() stopped."""
        for pid in self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def close(self) -> None:
        """Thaw, kill whatever is left, remove the directory."""
        self.thaw()
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                self.crash()
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(name="pg_cluster")
def pg_cluster_fixture() -> Iterator[PgCluster]:
    """A started private cluster (needs root or the postgres user); removed afterwards."""
    bindir = _binaries()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin")
    assert bindir is not None
    try:
        postgres_user = pwd.getpwnam("postgres")
    except KeyError:
        skip_or_fail("no postgres OS user to run a private PostgreSQL cluster")
    if os.geteuid() not in (0, postgres_user.pw_uid):
        skip_or_fail("a private PostgreSQL cluster needs root or the postgres user")
    base = Path(tempfile.mkdtemp(prefix="radius-pg-"))
    shutil.chown(base, user="postgres")  # initdb and the server run as postgres
    cluster = PgCluster(bindir, base, _free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.close()
