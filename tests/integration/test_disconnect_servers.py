"""End to end: real servers, a real database, the real CLI and a DAS on real UDP.

Two server processes share one PostgreSQL; every PIN change must reach the access
point as exactly one Disconnect-Request (a retransmission is the same request),
whichever instance claims the job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.protocol import codes as c
from radius_server.store import database
from radius_server.store.models import AuditEvent
from radius_server.store.sessions import SessionStore
from tests.conftest import Cli
from tests.integration.das_responder import das_responder
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.test_disconnect_jobs import ANA, open_session

SECRET = "loopback-test-secret-0123456789"
THROTTLE_KEY = "k" * 40  # the same on both instances, as in production


@contextmanager
def session_factory(url: str) -> Iterator[sessionmaker[Session]]:
    engine = database.make_engine(url)
    try:
        yield database.make_session_factory(engine)
    finally:
        engine.dispose()


def last_audit_at(sessions: sessionmaker[Session], action: str) -> float:
    """When the newest ``action`` was written: just before its transaction committed."""
    with sessions() as session:
        at = session.scalar(
            select(AuditEvent.at).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
        )
    assert at is not None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def jobs_done(*servers: ServerProcess) -> int:
    return sum(len(s.find("disconnect_job_done", timeout=0)) for s in servers)


def test_each_pin_change_sends_one_disconnect_with_two_servers(pg_url: str, tmp_path: Path) -> None:
    cli = Cli(pg_url, tmp_path)
    assert cli("db", "upgrade").code == 0
    changes = ["22222", "33333", "44444", "55555"]
    with das_responder(SECRET.encode()) as das, session_factory(pg_url) as sessions:
        added = cli(
            "nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET,
            "--coa-port", str(das.port),
        )  # fmt: skip
        assert added.code == 0, added.err
        assert cli("customer", "add", ANA, "--pin", "11111").code == 0
        env = {"RADIUS_THROTTLE_KEY": THROTTLE_KEY}
        with (
            running_server(pg_url, tmp_path / "one", **env) as one,
            running_server(pg_url, tmp_path / "two", **env) as two,
        ):
            for number, pin in enumerate(changes, 1):
                # Ana online on a new session each time (the last one was disconnected).
                key = f"s{number}"
                open_session(sessions, ANA, key, client="loopback")
                result = cli("customer", "set-pin", ANA, pin)
                assert result.code == 0, result.err
                arrived = das.wait_for(number)
                assert len(arrived) == number, f"no Disconnect-Request for change {number}"
                request = arrived[-1]
                assert request.text(c.ACCT_SESSION_ID) == key.upper()
                assert request.text(c.USER_NAME) == ANA
                committed = last_audit_at(sessions, "customer.set_pin")
                # Measured, not asserted (the issue asks for under 2 s end to end).
                print(
                    f"set-pin {number}: Disconnect-Request on the wire "
                    f"{1000 * (request.at - committed):.0f} ms after the commit"
                )
                # Closed on the ACK, by whichever instance sent it.
                deadline = time.monotonic() + 10
                while SessionStore(sessions).open_sessions(ANA) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert SessionStore(sessions).open_sessions(ANA) == []
            # Every job done once between the two, and nothing more arrives afterwards.
            deadline = time.monotonic() + 10
            while jobs_done(one, two) < len(changes) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.0)  # four more polls of each instance: a second claim would show
            assert jobs_done(one, two) == len(changes)
            assert len(das.distinct()) == len(changes)
            assert das.dropped == 0
            workers = {e["job"]: s for s in (one, two) for e in s.find("disconnect_job_done")}
            print(
                "jobs done by instance one:",
                sum(1 for s in workers.values() if s is one),
                "by instance two:",
                sum(1 for s in workers.values() if s is two),
            )
            for server in (one, two):
                assert SECRET not in server.output()


def test_session_disconnect_by_hand(sqlite_url: str, tmp_path: Path) -> None:
    """``session disconnect``: waits for a running server's result, or says it stays queued."""
    cli = Cli(sqlite_url, tmp_path)
    with das_responder(SECRET.encode()) as das, session_factory(sqlite_url) as sessions:
        added = cli(
            "nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET,
            "--coa-port", str(das.port),
        )  # fmt: skip
        assert added.code == 0, added.err
        assert cli("customer", "add", ANA, "--pin", "11111").code == 0
        nobody = cli("session", "disconnect", ANA)
        assert nobody.code == 1 and "no open session of ana@example.com" in nobody.err

        # No server running: the job is queued and stays so.
        waiting = open_session(sessions, ANA, "s1", client="loopback")
        queued = cli("session", "disconnect", str(waiting), "--wait", "0.3")
        assert queued.code == 1, queued.err
        assert "no server picked it up within 0.3 s" in queued.out
        assert "stays queued" in queued.out

        with running_server(sqlite_url, tmp_path / "data") as server:
            # The queued job is sent as soon as a server runs.
            server.wait_for("disconnect_job_done", timeout=10, session=waiting, acked=1)
            online = open_session(sessions, ANA, "s2", client="loopback")
            result = cli("--json", "session", "disconnect", ANA)
            assert result.code == 0, result.out + result.err
            data = json.loads(result.out)
            assert data["completed"] is True
            assert data["job"]["acked"] == 1 and data["job"]["reason"] == "admin"
            assert data["job"]["session_id"] is None
            assert [r.text(c.ACCT_SESSION_ID) for r in das.distinct()] == ["S1", "S2"]
            [closed] = [s for s in SessionStore(sessions).find() if s.id == online]
            assert closed.close_reason == "disconnect"
            again = cli("session", "disconnect", str(online))
            assert again.code == 1 and "is not open" in again.err
            history = cli("customer", "history", ANA)
            assert "session.disconnect" in history.out
