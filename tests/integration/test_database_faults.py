"""Database faults on a private PostgreSQL cluster: crashes, freezes, restarts.

Never the shared server on 5432: see tests/integration/pg_cluster.py.
"""

from __future__ import annotations

import json
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from radius_server.protocol import codes as c
from radius_server.store import database
from radius_server.store.customers import CustomerRepository
from tests.conftest import Cli, console_script
from tests.integration.pg_cluster import PgCluster, pg_cluster_fixture  # noqa: F401
from tests.integration.server_process import ServerProcess, running_server, server_env
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
            # A new address every time: an add cut by the crash may have committed.
            email = f"stream{number}@example.com"
            number += 1
            try:
                self.added[email] = self.repo.add(email).pin
            except Exception:  # the database is down: go on
                self.failures += 1
                self.engine.dispose()
            time.sleep(self.pause)

    def finish(self) -> dict[str, str]:
        self.stopping.set()
        self.join(timeout=30)
        self.engine.dispose()
        return dict(self.added)


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until condition() is true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _feed_length(url: str) -> int:
    engine = database.make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM changes")).scalar_one())
    finally:
        engine.dispose()


def _applied(server: ServerProcess) -> int:
    return sum(int(e["count"]) for e in server._matching("customers_updated", {}))


def _applied_before_accept(server: ServerProcess, email: str) -> int:
    """Changes applied so far, counted once ``email``'s first accept has reached the log.

    The server writes its log in batches, so a ``customers_updated`` line can reach
    the test after the answer it enabled: counting right after the answer misses it,
    and it then looks like a change applied again. Lines arrive in order, and the
    change was applied before the accept was decided, so once the accept line is
    read every application up to it is counted.
    """
    server.wait_for("access", timeout=10, user=email, outcome="accept")
    return _applied(server)


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
        server.wait_for_all("directory_loaded", 2, timeout=30)
        writer.writing.set()
        before = len(writer.added)
        _poll(lambda: len(writer.added) >= before + 10, 30, "changes after the restart")
        added = writer.finish()
        last_email = max(added, key=lambda e: int(e.removeprefix("stream").split("@")[0]))
        _poll(lambda: ask(server.auth_port, last_email, added[last_email]) == c.Code.ACCESS_ACCEPT,
              10, "the last change served")  # fmt: skip
        applied = _applied_before_accept(server, last_email)
        time.sleep(2.0)  # the bug re-applied every 250 ms for 30 s
        # One more change closes the watch: its batch must hold it alone (the bug
        # re-read every entry above the oldest hole), and nothing came in between.
        sentinel_email = "sentinel@example.com"
        sentinel = cli("--json", "customer", "add", sentinel_email)
        assert sentinel.code == 0, sentinel.err
        sentinel_pin = json.loads(sentinel.out)["pin"]
        _poll(lambda: ask(server.auth_port, sentinel_email, sentinel_pin) == c.Code.ACCESS_ACCEPT,
              10, "the sentinel change served")  # fmt: skip
        assert _applied_before_accept(server, sentinel_email) == applied + 1, (
            "changes were applied again"
        )
        assert applied + 1 <= _feed_length(pg_cluster.url)
        for email in list(added)[-3:]:
            assert ask(server.auth_port, email, added[email]) == c.Code.ACCESS_ACCEPT


class Load(threading.Thread):
    """Steady PAP requests from one member; each answer (or loss) with its time."""

    def __init__(self, port: int, email: str, pin: str, pause: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.port, self.email, self.pin, self.pause = port, email, pin, pause
        self.results: list[tuple[float, int | None]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.results.append((time.monotonic(), ask(self.port, self.email, self.pin)))
            time.sleep(self.pause)

    def between(self, start: float, end: float) -> tuple[int, int, int]:
        """(accepted, other answers, lost) for requests sent in [start, end)."""
        window = [code for at, code in list(self.results) if start <= at < end]
        accepted = sum(1 for code in window if code == c.Code.ACCESS_ACCEPT)
        lost = sum(1 for code in window if code is None)
        return accepted, len(window) - accepted - lost, lost


def _timed_cli(cli: Cli, *args: str) -> tuple[float, int, str]:
    started = time.monotonic()
    result = cli(*args, timeout=60)
    return time.monotonic() - started, result.code, result.err.strip()


def _events_after(server: ServerProcess, event: str, count_before: int, timeout: float) -> float:
    """Seconds until the log holds more than ``count_before`` ``event`` lines."""
    return _poll(lambda: len(server._matching(event, {})) > count_before, timeout, event)


def test_outages_under_load(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """PostgreSQL stopped, frozen and crashed under steady load, with admin commands.

    Throughout: every request is answered from memory; each outage is reported
    within seconds and recovered from within seconds; admin commands fail in
    bounded time with one line; changes made between outages are applied once.
    """
    cli = Cli(pg_cluster.url, tmp_path)
    pin = prepare_site(cli)
    figures: dict[str, dict[str, object]] = {}
    adds = 0
    with running_server(pg_cluster.url, tmp_path / "data") as server:
        load = Load(server.auth_port, "ana@example.com", pin)
        load.start()
        time.sleep(1.0)
        phases = {
            "stopped": (pg_cluster.stop, pg_cluster.start),
            "frozen": (pg_cluster.freeze, pg_cluster.thaw),
            "crashed": (pg_cluster.crash, pg_cluster.start),
        }
        for name, (fault, repair) in phases.items():
            degraded_before = len(server._matching("directory_degraded", {}))
            recovered_before = len(server._matching("directory_recovered", {}))
            started = time.monotonic()
            fault()
            _events_after(server, "directory_degraded", degraded_before, 20)
            noticed = time.monotonic() - started
            admin_seconds, admin_code, admin_err = _timed_cli(cli, "customer", "list")
            repaired = time.monotonic()
            repair()
            _events_after(server, "directory_recovered", recovered_before, 30)
            ended = time.monotonic()
            recovered = ended - repaired
            # The change made right after recovery reaches the server once.
            email = f"after-{name}@example.com"
            added = cli("--json", "customer", "add", email)
            assert added.code == 0, added.err
            adds += 1
            new_pin = json.loads(added.out)["pin"]
            _poll(lambda e=email, p=new_pin: ask(server.auth_port, e, p) == c.Code.ACCESS_ACCEPT,
                  10, f"{email} served")  # fmt: skip
            accepted, other, lost = load.between(started, ended)
            figures[name] = {
                "noticed_s": round(noticed, 2),
                "recovered_s": round(recovered, 2),
                "outage_s": round(repaired - started, 2),
                "admin_s": round(admin_seconds, 2),
                "admin_error": admin_err,
                "accepted": accepted,
                "other": other,
                "lost": lost,
            }
            assert admin_code != 0 and len(admin_err.splitlines()) == 1, admin_err
            assert admin_err.startswith("error: cannot use the database postgresql")
            assert admin_seconds < 20
            assert noticed < 15 and recovered < 15, figures[name]
            assert other == 0 and lost <= max(2, accepted // 100), figures[name]
        applied = _applied_before_accept(server, email)
        time.sleep(1.5)
        load.stopping.set()
        load.join(timeout=5)
        assert _applied(server) == applied <= adds, "a change was applied twice"
    print("\nOUTAGE FIGURES", json.dumps(figures, indent=1))


def _serve_args(url: str, data_dir: Path) -> tuple[list[str], dict[str, str]]:
    ports = ["--auth-port", "0", "--acct-port", "0"]
    return [console_script(), "serve", "--host", "127.0.0.1", *ports], server_env(url, data_dir)


def test_start_during_outage_serves_the_snapshot_and_catches_up(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """A restart while PostgreSQL is frozen serves the last good view, then catches up."""
    cli = Cli(pg_cluster.url, tmp_path)
    pin = prepare_site(cli)
    data = tmp_path / "data"
    with running_server(pg_cluster.url, data) as server:
        server.wait_for("directory_snapshot_saved", timeout=10)
    snapshot = data / "directory-snapshot.json"
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
    pg_cluster.freeze()
    try:
        started = time.monotonic()
        with running_server(pg_cluster.url, data) as server:
            took = time.monotonic() - started
            loaded = server.wait_for("directory_loaded", source="snapshot")
            assert loaded["customers"] == 1 and loaded["clients"] == 1
            assert ask(server.auth_port, "ana@example.com", pin) == c.Code.ACCESS_ACCEPT
            pg_cluster.thaw()
            server.wait_for("directory_recovered", timeout=20)
            server.wait_for("directory_loaded", source="database", timeout=30)
            added = cli("--json", "customer", "add", "bo@example.com")
            assert added.code == 0, added.err
            bo_pin = json.loads(added.out)["pin"]
            _poll(lambda: ask(server.auth_port, "bo@example.com", bo_pin) == c.Code.ACCESS_ACCEPT,
                  10, "a change after the catch-up served")  # fmt: skip
    finally:
        pg_cluster.thaw()
    print(f"\nSTART FROM SNAPSHOT with PostgreSQL frozen: serving after {took:.2f} s")


def test_start_without_database_or_snapshot_refuses_in_bounded_time(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """Frozen database, no snapshot: serve exits non-zero with one line, it does not hang."""
    cli = Cli(pg_cluster.url, tmp_path)
    prepare_site(cli)
    args, env = _serve_args(pg_cluster.url, tmp_path / "fresh-data")
    pg_cluster.freeze()
    try:
        started = time.monotonic()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    finally:
        pg_cluster.thaw()
    assert proc.returncode == 1
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: cannot load the directory from postgresql"), message
    assert "no snapshot" in message
    assert took < 30
    print(f"\nREFUSED START with PostgreSQL frozen and no snapshot after {took:.2f} s: {message}")


def test_watchdog_cuts_a_statement_a_frozen_server_never_answers(pg_cluster: PgCluster) -> None:
    """A connection already open when the server freezes: the statement fails, bounded."""
    engine = database.make_engine(pg_cluster.url, timeout=1.0)
    outcome: list[BaseException | None] = []

    def frozen_statement(conn: Connection) -> None:
        try:
            conn.execute(text("SELECT 2"))
            outcome.append(None)
        except BaseException as exc:  # reported to the test thread
            outcome.append(exc)

    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            pg_cluster.freeze()
            started = time.monotonic()
            worker = threading.Thread(target=frozen_statement, args=(conn,), daemon=True)
            worker.start()
            worker.join(timeout=20)  # without the watchdog: forever
            took = time.monotonic() - started
            pg_cluster.thaw()
            worker.join(timeout=10)
        assert outcome and isinstance(outcome[0], OperationalError), outcome
        assert "no answer from the database within 2 s" in str(outcome[0])
        assert took < 15
        with engine.connect() as conn:  # the pool recovers by itself
            assert conn.execute(text("SELECT 3")).scalar() == 3
    finally:
        pg_cluster.thaw()
        engine.dispose()
