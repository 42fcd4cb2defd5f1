"""Accounting end to end: a real server process, real sockets, real databases.

An Accounting-Response is sent only once the record is durable: committed, or
flushed to the spool while the database is away (README "Accounting"). The
outage test runs on a private PostgreSQL cluster (tests/integration/pg_cluster.py)
that it stops and starts; the shared server is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_accounting_request, verify_reply
from radius_server.store import database
from tests.conftest import Cli, console_script, require_tool
from tests.integration.acct_client import INTERIM_TIME, STOP_TIME, Event, Sender, send_all, sessions
from tests.integration.pg_cluster import PgCluster, pg_cluster_fixture  # noqa: F401
from tests.integration.server_process import ServerProcess, running_server, server_env
from tests.integration.udp_client import SECRET, prepare_site

EMAIL = "ana@example.com"


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """The sessions table, by Acct-Session-Id (a list: a duplicate row would show)."""
    engine = database.make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT acct_session_id, member_email, input_octets, output_octets,"
                    " session_time, stopped_at, terminate_cause, close_reason FROM sessions"
                )
            ).mappings()
            by_id: dict[str, list[dict[str, Any]]] = {}
            for row in found:
                by_id.setdefault(row["acct_session_id"], []).append(dict(row))
            return by_id
    finally:
        engine.dispose()


def radclient(port: int, attributes: str) -> subprocess.CompletedProcess[str]:
    """Debian's radclient, one Accounting-Request (it retries on its own, like a NAS)."""
    tool = require_tool("radclient")
    return subprocess.run(
        [tool, "-x", "-r", "3", "-t", "2", f"127.0.0.1:{port}", "acct", SECRET],
        input=attributes,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def site_url(db_url: str, tmp_path: Path) -> str:
    """``db_url`` (SQLite and PostgreSQL) migrated, with 127.0.0.1 as a NAS and one member."""
    prepare_site(Cli(db_url, tmp_path))
    return db_url


def test_start_interim_stop_from_radclient_make_one_session(site_url: str, tmp_path: Path) -> None:
    common = f'Acct-Session-Id = "rc-1", User-Name = "{EMAIL}", NAS-Port = 3, ' + (
        'Calling-Station-Id = "02-00-00-00-00-01", NAS-IP-Address = 192.0.2.1'
    )
    with running_server(site_url, tmp_path / "data") as server:
        for status, extra in (
            ("Start", ""),
            ("Interim-Update", ", Acct-Session-Time = 60, Acct-Input-Octets = 100"),
            (
                "Stop",
                ", Acct-Session-Time = 90, Acct-Input-Octets = 150, Acct-Output-Octets = 70,"
                " Acct-Input-Gigawords = 1, Acct-Terminate-Cause = Idle-Timeout",
            ),
        ):
            result = radclient(server.acct_port, f"Acct-Status-Type = {status}, {common}{extra}")
            assert result.returncode == 0 and "Accounting-Response" in result.stdout, result.stdout
        lines = server.find("accounting", at_least=3, session_id="rc-1")
    assert [line["status_type"] for line in lines] == ["start", "interim-update", "stop"]
    assert {line["stored"] for line in lines} == {"database"}
    assert {line["member"] for line in lines} == {EMAIL}
    assert lines[-1]["input_octets"] == (1 << 32) + 150
    assert lines[-1]["terminate_cause"] == "Idle-Timeout"
    (row,) = rows(site_url)["rc-1"]
    assert row["member_email"] == EMAIL
    assert (row["input_octets"], row["output_octets"], row["session_time"]) == (
        (1 << 32) + 150,
        70,
        90,
    )
    assert row["stopped_at"] is not None and row["terminate_cause"] == "Idle-Timeout"


def test_a_retransmitted_or_resent_record_counts_once(site_url: str, tmp_path: Path) -> None:
    """The same datagram again (a retransmission) is answered from the cache; the same
    record under a new Identifier (a NAS that re-sends) merges into the same row: one
    session, counters as sent, never added up."""
    stop = Event(7, 2)
    with running_server(site_url, tmp_path / "data") as server:
        assert send_all(server.acct_port, [Event(7, 1)]).acked
        replies = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.bind(("127.0.0.1", 0))
            for identifier in (40, 40, 41):
                request = encode_accounting_request(
                    SECRET.encode(), identifier=identifier, attributes=stop.attributes(EMAIL)
                )
                sock.sendto(request.packet, ("127.0.0.1", server.acct_port))
                reply = sock.recv(4096)
                assert verify_reply(
                    reply,
                    request.authenticator,
                    SECRET.encode(),
                    request_code=c.Code.ACCOUNTING_REQUEST,
                )
                replies.append(reply)
        assert replies[0] == replies[1]
        # One line per request decided: the retransmission was not decided again.
        server.find("accounting", at_least=3, session_id=stop.session_id)
        server.wait_for("retransmission")
        time.sleep(0.2)
        assert len(server.find("accounting", session_id=stop.session_id, timeout=0)) == 3
    (row,) = rows(site_url)[stop.session_id]
    counters = stop.counters()
    assert counters is not None
    assert (row["session_time"], row["input_octets"], row["output_octets"]) == counters


def test_hundreds_of_sessions_each_answer_verified(site_url: str, tmp_path: Path) -> None:
    count = 300
    with running_server(site_url, tmp_path / "data", RADIUS_LOG_LEVEL="info") as server:
        outcome = send_all(server.acct_port, sessions(0, count), window=128)
        assert not outcome.unanswered and len(outcome.acked) == 3 * count
        lines = server.find("accounting", at_least=3 * count, timeout=20)
    assert {line["stored"] for line in lines} == {"database"}
    found = rows(site_url)
    assert len(found) == count
    for n in range(count):
        (row,) = found[Event(n, 2).session_id]
        assert (row["session_time"], row["input_octets"], row["output_octets"]) == Event(
            n, 2
        ).counters()
        assert row["stopped_at"] is not None


# -- the outage -----------------------------------------------------------------


def start_server(url: str, data: Path, *args: str, **env: str) -> ServerProcess:
    """A server not tied to a ``with`` block: the test stops or kills it."""
    proc = subprocess.Popen(
        [console_script(), "serve", "--host", "127.0.0.1", "--auth-port", "0",
         "--acct-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=server_env(url, data, **{"RADIUS_LOG_LEVEL": "info", **env}),
    )  # fmt: skip
    server = ServerProcess(proc)
    server.wait_started()
    return server


def check_kept(found: dict[str, list[dict[str, Any]]], acked: set[Event]) -> None:
    """Every acknowledged event is in the database; nothing is there twice or added up."""
    for event in acked:
        assert event.session_id in found, f"{event} was acknowledged and lost"
    for session_id, matching in found.items():
        assert len(matching) == 1, f"{session_id} has {len(matching)} rows"
    for event in acked:
        (row,) = found[event.session_id]
        n = event.session
        # Counters are one of the values sent (merged by maximum), never a sum.
        assert row["input_octets"] in (0, 1_000 + n, 5_000_000_000 + n), row
        assert row["session_time"] in (0, INTERIM_TIME, STOP_TIME), row
        if event.status == 3:
            assert row["session_time"] >= INTERIM_TIME, f"{event} acknowledged, not kept"
        if event.status == 2:
            assert row["stopped_at"] is not None and row["session_time"] == STOP_TIME, row


def spool_files(data: Path) -> list[str]:
    spool = data / "spool"
    return sorted(n for n in os.listdir(spool) if n.startswith("acct-")) if spool.exists() else []


def wait_for_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_accounting_survives_an_outage_a_stop_and_a_kill(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """The issue's test: accounting sent while PostgreSQL is down is answered from the
    spool and reaches the database when it returns, through a SIGTERM restart and a
    SIGKILL in between. Lost: 0 of the acknowledged. Duplicated: 0."""
    url = pg_cluster.url
    prepare_site(Cli(url, tmp_path))
    data = tmp_path / "data"
    acked: set[Event] = set()
    count = 200
    first, second = range(0, count // 2), range(count // 2, count)

    # 1. Database up: Starts are committed before they are answered.
    server = start_server(url, data)
    try:
        outcome = send_all(server.acct_port, sessions(0, len(first), (1,)))
        assert len(outcome.acked) == len(first)
        acked |= outcome.acked
        # A restart while the database is down serves from this snapshot.
        wait_for_file(data / "directory-snapshot.json")

        # 2. Database down: answered from the spool.
        pg_cluster.stop()
        events = sessions(first.start, len(first), (3,)) + sessions(second.start, len(second), (1,))
        outcome = send_all(server.acct_port, events)
        assert len(outcome.acked) == len(events), outcome.unanswered
        acked |= outcome.acked
        assert server.find("accounting_spooled")
        spooled = server.find(
            "accounting", at_least=len(events), where=lambda e: e.get("stored") == "spool"
        )
        assert len(spooled) >= len(events)  # fmt: skip

        # SIGTERM in the middle of a burst: what is queued is spooled and answered.
        sender = Sender(server.acct_port, sessions(second.start, len(second), (3,)), tries=2,
                        timeout=0.5)  # fmt: skip
        sender.start()
        sender.wait_acked(10)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
        sender.join(60)
        acked |= sender.outcome.acked
        assert spool_files(data)
    finally:
        server.stop()

    # 3. Still down: restarted from the snapshot, it adopts the spool; then SIGKILL mid-burst.
    server = start_server(url, data)
    try:
        server.wait_for("accounting_spool_adopted", timeout=10)
        sender = Sender(server.acct_port, sessions(0, count, (2,)), tries=2, timeout=0.5)
        sender.start()
        sender.wait_acked(50)
        server.proc.kill()
        server.proc.wait(30)
        sender.join(60)
        acked |= sender.outcome.acked
    finally:
        server.stop()
    assert 50 <= len(sender.outcome.acked) < count

    # 4. Database back, and a SIGKILL in the middle of the replay (two records a batch).
    pg_cluster.start()
    server = start_server(url, data, RADIUS_ACCOUNTING_BATCH_MAX="2")
    try:
        server.wait_for("accounting_spool_replayed", timeout=60)
        server.proc.kill()
        server.proc.wait(30)
        assert not server.find("accounting_spool_drained", timeout=0)
    finally:
        server.stop()

    # 5. The next server replays the rest (a part again: harmless).
    server = start_server(url, data)
    try:
        server.wait_for("accounting_spool_drained", timeout=60)
        check_kept(rows(url), acked)
        # What was never acknowledged the NASes send again; then everything is there once.
        every = sessions(0, count)
        outcome = send_all(server.acct_port, [e for e in every if e not in acked])
        assert not outcome.unanswered
        acked |= outcome.acked
        replayed = sum(e["count"] for e in server.find("accounting_spool_replayed"))
        assert replayed
    finally:
        assert server.stop() == 0
    found = rows(url)
    check_kept(found, acked)
    assert len(found) == count
    for n in range(count):
        (row,) = found[Event(n, 2).session_id]
        assert (row["session_time"], row["input_octets"], row["output_octets"]) == Event(
            n, 2
        ).counters()
    assert spool_files(data) == []
    assert replayed > 0
    print(f"acknowledged events {len(acked)}, replayed from the spool {replayed}, lost 0")


def test_workers_each_spool_and_a_later_server_replays_them_all(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """``serve --workers 2`` during an outage: each worker spools into its own locked
    files (neither takes the other's), and a server started later adopts them all."""
    url = pg_cluster.url
    prepare_site(Cli(url, tmp_path))
    data = tmp_path / "data"
    acked: set[Event] = set()
    server = start_server(url, data, "--workers", "2")
    try:
        server.wait_for_all("server_started", 2)
        pg_cluster.stop()
        # Sixteen client sockets: the kernel spreads them over both workers.
        for part in range(16):
            outcome = send_all(server.acct_port, sessions(part * 10, 10, (1, 2)))
            assert not outcome.unanswered
            acked |= outcome.acked
        assert server.stop() == 0
    finally:
        server.stop()
    owners = {name.split("-")[1] for name in spool_files(data)}
    assert len(owners) == 2, spool_files(data)
    pg_cluster.start()
    server = start_server(url, data)
    try:
        adopted = server.find("accounting_spool_adopted", at_least=2, timeout=10)
        assert len({line["file"].split("-")[1] for line in adopted}) == 2
        server.wait_for("accounting_spool_drained", timeout=60)
    finally:
        assert server.stop() == 0
    found = rows(url)
    check_kept(found, acked)
    assert len(found) == 160 and spool_files(data) == []
