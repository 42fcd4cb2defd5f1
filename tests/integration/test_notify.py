"""Changes pushed, not polled: real servers on one PostgreSQL, woken by LISTEN/NOTIFY.

The safety poll is set to a minute, so a change reaching both servers long before
it can only have come by notification; a missed notification is caught by the
reconnect (every loop reads once when listening starts) or by the safety poll.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg

from radius_server.admin import Admin
from radius_server.config import Settings
from radius_server.protocol import codes as c
from radius_server.rules.accounting import StatusType
from radius_server.rules.pins import drawable
from radius_server.store import database
from radius_server.store.sessions import SessionStore
from tests.conftest import Cli
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.test_device_limit import STATIONS, accounting
from tests.integration.udp_client import ask, prepare_site

EMAIL = "ana@example.com"
# Far beyond every deadline below: nothing in these tests waits for the safety poll
# unless it sets a short one itself.
SAFETY = {"RADIUS_SYNC_SAFETY_INTERVAL": "60", "RADIUS_REJECT_DELAY": "0"}
# Generous: a loaded CI machine; still far below the safety poll.
DEADLINE = 20.0


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _until(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _accepts(server: ServerProcess, pin: str) -> bool:
    return ask(server.auth_port, EMAIL, pin) == c.Code.ACCESS_ACCEPT


def _other_pin(*avoid: str) -> str:
    return next(p for p in drawable() if p not in avoid)


@contextmanager
def _servers(url: str, tmp_path: Path, count: int, **env: str) -> Iterator[list[ServerProcess]]:
    """``count`` servers, each listening (``listen_started`` logged) before use."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running_server(url, tmp_path / f"s{n}", **{**SAFETY, **env}))
            for n in range(count)
        ]
        for server in servers:
            server.wait_for("listen_started", timeout=DEADLINE)
        yield servers


def _set_pin(url: str, pin: str) -> None:
    """The admin layer's PIN change: what ``customer set-pin`` and the API call."""
    admin = Admin.open(Settings(database_url=url), "test")
    try:
        assert admin.customers.set_pin(EMAIL, pin).changed
    finally:
        admin.close()


def test_pin_change_reaches_every_instance_by_notification(pg_url: str, tmp_path: Path) -> None:
    """Both servers honour a new PIN (and refuse the old) long before the safety poll."""
    cli = Cli(pg_url, tmp_path)
    old = prepare_site(cli)
    with _servers(pg_url, tmp_path, 2) as servers:
        for server in servers:
            assert _accepts(server, old)
        new = _other_pin(old)
        marks = [s.mark() for s in servers]
        _set_pin(pg_url, new)
        for server, mark in zip(servers, marks, strict=True):
            assert _until(lambda s=server: _accepts(s, new)), server.output()[-3000:]
            assert ask(server.auth_port, EMAIL, old) == c.Code.ACCESS_REJECT
            server.wait_for("customers_updated", since=mark)
    for server in servers:
        assert new not in server.output() and old not in server.output()


def test_missed_notification_caught_on_reconnect(pg_url: str, tmp_path: Path) -> None:
    """A change made without a notification (trigger off) reaches the server once its
    listen connection is cut and re-established: it reads on listening again."""
    cli = Cli(pg_url, tmp_path)
    old = prepare_site(cli)
    new = _other_pin(old)
    with (
        _servers(pg_url, tmp_path, 1) as (server,),
        psycopg.connect(_dsn(pg_url), autocommit=True) as conn,
    ):
        assert _accepts(server, old)
        conn.execute("ALTER TABLE changes DISABLE TRIGGER changes_notify")
        try:
            _set_pin(pg_url, new)
        finally:
            conn.execute("ALTER TABLE changes ENABLE TRIGGER changes_notify")
        # Missed for now: nothing tells the server (its next safety read is a minute
        # away). Watched for a moment only: under load this proves little, never fails
        # wrongly; the recovery below is the point.
        time.sleep(1.0)
        assert _accepts(server, old)
        mark = server.mark()
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'radius-server listen' AND datname = current_database()"
        ).fetchall()
        assert killed == [(True,)]
        server.wait_for("listen_lost", since=mark, timeout=DEADLINE)
        server.wait_for("listen_started", since=mark, timeout=DEADLINE)
        assert _until(lambda: _accepts(server, new)), server.output()[-3000:]
        assert ask(server.auth_port, EMAIL, old) == c.Code.ACCESS_REJECT


def test_missed_notification_caught_by_safety_poll(pg_url: str, tmp_path: Path) -> None:
    """With a short safety poll, a change that notified nobody still arrives."""
    cli = Cli(pg_url, tmp_path)
    old = prepare_site(cli)
    new = _other_pin(old)
    with (
        _servers(pg_url, tmp_path, 1, RADIUS_SYNC_SAFETY_INTERVAL="1") as (server,),
        psycopg.connect(_dsn(pg_url), autocommit=True) as conn,
    ):
        assert _accepts(server, old)
        mark = server.mark()
        conn.execute("ALTER TABLE changes DISABLE TRIGGER changes_notify")
        try:
            _set_pin(pg_url, new)
        finally:
            conn.execute("ALTER TABLE changes ENABLE TRIGGER changes_notify")
        assert _until(lambda: _accepts(server, new)), server.output()[-3000:]
        # Still listening throughout: the safety read found it, not a reconnect.
        assert not server.find("listen_lost", since=mark, timeout=0)


def test_lockout_reaches_the_other_instance_by_notification(pg_url: str, tmp_path: Path) -> None:
    """Wrong PINs on A lock the member on B, and an admin clear frees both, without polling."""
    cli = Cli(pg_url, tmp_path)
    pin = prepare_site(cli)
    env = {"RADIUS_THROTTLE_USER_BUDGET": "3", "RADIUS_THROTTLE_KEY": "k3y-" * 10}
    with _servers(pg_url, tmp_path, 2, **env) as (a, b):
        for k in range(3):
            wrong = f"{(int(pin) + 11 * (k + 1)) % 100000:05d}"
            assert ask(a.auth_port, EMAIL, wrong, f"02-00-00-00-01-{k:02x}") == (
                c.Code.ACCESS_REJECT
            )
        a.wait_for("lockout_started", scope="user", timeout=DEADLINE)
        b.wait_for("lockout_started", scope="user", source="peer", timeout=DEADLINE)
        assert ask(b.auth_port, EMAIL, pin, "02-00-00-00-02-01") == c.Code.ACCESS_REJECT
        assert cli("lockout", "clear", EMAIL).code == 0
        for server in (a, b):
            server.wait_for("lockout_cleared", user=EMAIL, source="admin", timeout=DEADLINE)
            assert ask(server.auth_port, EMAIL, pin, "02-00-00-00-03-01") == (c.Code.ACCESS_ACCEPT)


def test_new_client_reaches_every_instance_by_notification(pg_url: str, tmp_path: Path) -> None:
    """``nas add`` on the command line: both servers know the new client at once."""
    cli = Cli(pg_url, tmp_path)
    prepare_site(cli)
    with _servers(pg_url, tmp_path, 2) as servers:
        marks = [s.mark() for s in servers]
        added = cli("nas", "add", "upstairs", "--address", "10.9.8.7", "--secret", "s" * 24)
        assert added.code == 0, added.err
        for server, mark in zip(servers, marks, strict=True):
            server.wait_for("client_updated", since=mark, timeout=DEADLINE, client="upstairs")


def test_sqlite_server_is_woken_by_a_commit(sqlite_url: str, tmp_path: Path) -> None:
    """SQLite has no notifications: the server watches the file's data version and
    reads when another process commits, long before the safety poll (a minute)."""
    cli = Cli(sqlite_url, tmp_path)
    old = prepare_site(cli)
    new = _other_pin(old)
    with running_server(sqlite_url, tmp_path / "s", **SAFETY) as server:
        server.wait_for("watch_started", timeout=DEADLINE)
        assert _accepts(server, old)
        assert cli("customer", "set-pin", EMAIL, new).code == 0
        assert _until(lambda: _accepts(server, new)), server.output()[-3000:]
        assert not _accepts(server, old)
        assert not server.find("listen_started", timeout=0)


def test_sqlite_server_polls_with_sync_notify_off(sqlite_url: str, tmp_path: Path) -> None:
    """``sync_notify`` off: no watcher, every loop polls (the safety poll never applies)."""
    cli = Cli(sqlite_url, tmp_path)
    old = prepare_site(cli)
    new = _other_pin(old)
    env = {**SAFETY, "RADIUS_SYNC_NOTIFY": "false"}
    with running_server(sqlite_url, tmp_path / "s", **env) as server:
        assert _accepts(server, old)
        assert cli("customer", "set-pin", EMAIL, new).code == 0
        assert _until(lambda: _accepts(server, new)), server.output()[-3000:]
        assert not server.find("watch_started", timeout=0)


def test_sqlite_servers_follow_each_others_sessions_and_lockouts(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Two servers on one SQLite file (as ``--workers`` are), safety poll a minute: a
    session another writer starts, and its Stop (an UPDATE), reach each follower; wrong
    PINs on A lock the member on B (A's events, not B's own, wake B's guard)."""
    cli = Cli(sqlite_url, tmp_path)
    pin = prepare_site(cli)
    ana = json.loads(cli("--json", "customer", "show", EMAIL).out)["id"]
    env = {**SAFETY, "RADIUS_THROTTLE_USER_BUDGET": "3", "RADIUS_THROTTLE_KEY": "k3y-" * 10}
    engine = database.make_engine(sqlite_url)
    store = SessionStore(database.make_session_factory(engine))
    try:
        with ExitStack() as stack:
            a, b = (
                stack.enter_context(running_server(sqlite_url, tmp_path / n, **env))
                for n in ("a", "b")
            )
            for server in (a, b):
                server.wait_for("watch_started", timeout=DEADLINE)
            for status in (StatusType.START, StatusType.STOP):
                marks = [a.mark(), b.mark()]
                now = time.time()
                store.write([accounting(status, "s0", ana, STATIONS[0], now)], now)
                for server, mark in zip((a, b), marks, strict=True):
                    server.wait_for("online_devices_followed", since=mark, timeout=DEADLINE)
            for k in range(3):
                wrong = f"{(int(pin) + 11 * (k + 1)) % 100000:05d}"
                station = f"02-00-00-00-01-{k:02x}"
                assert ask(a.auth_port, EMAIL, wrong, station) == c.Code.ACCESS_REJECT
            b.wait_for("lockout_started", scope="user", source="peer", timeout=DEADLINE)
            assert ask(b.auth_port, EMAIL, pin, "02-00-00-00-02-01") == c.Code.ACCESS_REJECT
    finally:
        engine.dispose()
