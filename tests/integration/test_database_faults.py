"""Database faults on a private PostgreSQL cluster: crashes, freezes, restarts.

Never the shared server on 5432: see tests/integration/pg_cluster.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from radius_server.protocol import codes as c
from radius_server.store import database
from radius_server.store.customers import CustomerRepository
from tests.conftest import Cli
from tests.integration.pg_cluster import PgCluster, pg_cluster_fixture  # noqa: F401
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.udp_client import ask, prepare_site


class Writer(threading.Thread):
    """Adds a customer every ``pause`` seconds until stopped; remembers what committed."""

    def __init__(self, url: str, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.engine = database.make_engine(url)
        self.repo = CustomerRepository(database.make_session_factory(self.engine), "test")
        self.pause = pause
        self.added: dict[str, str] = {}
        self.failures = 0
        self.stopping = threading.Event()
        self.writing = threading.Event()
        self.writing.set()

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            self.writing.wait()
            email = f"stream{number}@example.com"
            try:
                self.added[email] = self.repo.add(email).pin
                number += 1
            except Exception:  # the database is down: try again
                self.failures += 1
                self.engine.dispose()
            time.sleep(self.pause)

    def finish(self) -> dict[str, str]:
        self.stopping.set()
        self.join(timeout=30)
        self.engine.dispose()
        return dict(self.added)


def _poll(condition, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Wait until condition() is true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _applied(server: ServerProcess) -> int:
    return sum(int(e["count"]) for e in server._matching("customers_updated", {}))


def test_change_after_database_crash_is_applied_once(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """A crash mid-stream: every change reaches the server once, none is replayed.

    After a crash PostgreSQL's sequences jump ahead (values are WAL-logged 32 at a
    time), which leaves holes below the next change; the follower used to re-read and
    re-apply everything above the oldest hole on every poll for 30 s.
    """
    cli = Cli(pg_cluster.url, tmp_path)
    prepare_site(cli)
    with running_server(pg_cluster.url, tmp_path / "data") as server:
        writer = Writer(pg_cluster.url)
        writer.start()
        _poll(lambda: len(writer.added) >= 5, 30, "first changes written")
        pg_cluster.crash()
        # The next change must come after the server reloaded: the sequence has
        # jumped meanwhile, and the first change after the reload leaves a gap.
        writer.writing.clear()
        pg_cluster.start()
        server.wait_for("directory_recovered", timeout=30)
        server.wait_for_all("directory_loaded", 2, timeout=10)
        writer.writing.set()
        before = len(writer.added)
        _poll(lambda: len(writer.added) >= before + 10, 30, "changes after the restart")
        added = writer.finish()
        last_email = max(added, key=lambda e: int(e.removeprefix("stream").split("@")[0]))
        _poll(lambda: ask(server.auth_port, last_email, added[last_email]) == c.Code.ACCESS_ACCEPT,
              10, "the last change served")  # fmt: skip
        applied = _applied(server)
        time.sleep(2.0)  # the bug re-applied every 250 ms for 30 s
        assert _applied(server) == applied, "changes were applied again"
        assert applied <= len(added)
        for email in list(added)[-3:]:
            assert ask(server.auth_port, email, added[email]) == c.Code.ACCESS_ACCEPT
