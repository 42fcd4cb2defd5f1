"""The device limit end to end: two server processes on one PostgreSQL, real UDP,
Debian's radclient and ``radius-server test``; the stale-session loop; the CLI."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_accounting_request
from radius_server.rules.accounting import (
    AccountingRecord,
    StatusType,
    class_member_id,
    unique_session_key,
)
from radius_server.store import database
from radius_server.store.sessions import SessionStore
from tests.conftest import Cli, require_tool
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.udp_client import SECRET, prepare_site, send

EMAIL = "ana@example.com"
STATIONS = [f"02:00:00:00:00:{i:02x}" for i in range(1, 8)]
# Every wait below is bounded by this (the followers poll every sync_interval).
WAIT_SECONDS = 15.0


@pytest.fixture
def store(pg_url: str) -> Iterator[SessionStore]:
    """Session rows written as an instance's accounting writer writes them."""
    engine = database.make_engine(pg_url)
    try:
        yield SessionStore(database.make_session_factory(engine))
    finally:
        engine.dispose()


def member_id(cli: Cli, email: str = EMAIL) -> int:
    result = cli("--json", "customer", "show", email)
    assert result.code == 0, result.err
    return int(json.loads(result.out)["id"])


def accounting(
    status: StatusType, session: str, customer: int, station: str | None, at: float
) -> AccountingRecord:
    """One accounting record of access point "loopback" (what instance A's writer stores)."""
    return AccountingRecord(
        status=status,
        unique_key=unique_session_key("loopback", "127.0.0.1", "ap-a", 1, session),
        client_name="loopback",
        nas_address="127.0.0.1",
        acct_session_id=session,
        user_name=EMAIL,
        event_time=at,
        received_at=at,
        nas_ip_address="127.0.0.1",
        nas_identifier="ap-a",
        nas_port=1,
        member_email=EMAIL,
        customer_id=customer,
        calling_station_id=station,
    )


def radclient(port: int, station: str, pin: str) -> subprocess.CompletedProcess[str]:
    """One PAP Access-Request from Debian's radclient, with Calling-Station-Id."""
    tool = require_tool("radclient")
    attributes = (
        f'User-Name = "{EMAIL}"\nUser-Password = "{pin}"\n'
        f'Calling-Station-Id = "{station}"\nMessage-Authenticator = 0x00\n'
    )
    return subprocess.run(
        [tool, "-x", "-r", "2", "-t", "2", f"127.0.0.1:{port}", "auth", SECRET],
        input=attributes,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait until ``check()`` holds, at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(0.1)


def followed(server: ServerProcess, since: int, rows: int) -> None:
    """Wait until the server's follower has read ``rows`` session rows logged after ``since``.

    Asking first would not do: an accept counts its device for a while, so a probe
    that got in before the rows arrived would count as one more device.
    """
    eventually(
        lambda: (
            sum(e["rows"] for e in server.find("online_devices_followed", since=since, timeout=0))
            >= rows
        ),
        f"{rows} session rows followed",
    )


def answer(server: ServerProcess, station: str, pin: str) -> str:
    """What radclient heard: Access-Accept or Access-Reject (and the whole output)."""
    result = radclient(server.auth_port, station, pin)
    assert "Received Access-" in result.stdout, result.stdout + result.stderr
    return result.stdout


def send_accounting(
    server: ServerProcess, status: int, session: str, station: str, klass: bytes
) -> None:
    """One Accounting-Request as the access point sends it; returns once it is acknowledged
    (the server answers only when the record is kept: runtime/accounting.py)."""
    attributes = [
        (c.ACCT_STATUS_TYPE, struct.pack("!I", status)),
        (c.ACCT_SESSION_ID, session.encode()),
        (c.USER_NAME, b"anonymous"),  # an outer identity: our Class names the member
        (c.NAS_IP_ADDRESS, bytes((127, 0, 0, 1))),
        (c.NAS_IDENTIFIER, b"ap-a"),
        (c.CALLING_STATION_ID, station.encode()),
        (c.CLASS, klass),
    ]
    request = encode_accounting_request(SECRET.encode(), identifier=7, attributes=attributes)
    reply = send(server.acct_port, request.packet, timeout=WAIT_SECONDS)
    assert reply is not None and reply[0] == c.Code.ACCOUNTING_RESPONSE


def accepted_class(output: str, member: int) -> bytes:
    """The Class in radclient's Access-Accept, checked to name ``member``."""
    assert "Access-Accept" in output, output
    assert "Acct-Interim-Interval = 600" in output
    match = re.search(r"Class = 0x([0-9a-f]+)", output)
    assert match is not None, output
    klass = bytes.fromhex(match.group(1))
    assert class_member_id(klass) == member
    return klass


def test_sessions_from_instance_a_accounting_count_on_instance_b(
    pg_url: str, tmp_path: Path
) -> None:
    """Three phones sign in and start their sessions through A (its accounting writer
    stores them): B refuses a fourth phone, says why, and lets the three sign in again;
    a Stop sent to B frees a place on A."""
    cli = Cli(pg_url, tmp_path)
    pin = prepare_site(cli)
    ana = member_id(cli)
    with (
        running_server(pg_url, tmp_path / "a") as a,
        running_server(pg_url, tmp_path / "b") as b,
    ):
        mark = b.mark()
        classes = []
        for i in range(3):
            classes.append(accepted_class(answer(a, STATIONS[i], pin), ana))
            send_accounting(a, c.ACCT_STATUS_START, f"s{i}", STATIONS[i], classes[i])
        followed(b, mark, 3)
        refused = answer(b, STATIONS[5], pin)
        assert "Access-Reject" in refused
        assert 'Reply-Message = "Device limit reached: 3 devices online"' in refused
        line = b.wait_for("access", reason="device_limit")
        assert line["user"] == EMAIL and line["detail"] == "online=3 limit=3"
        assert line["calling_station"] == STATIONS[5]
        assert "Access-Reject" in answer(a, STATIONS[5], pin)  # and on A too
        # The phones already online sign in again (re-authentication) on either one.
        accepted_class(answer(b, STATIONS[0], pin), ana)
        accepted_class(answer(a, STATIONS[2], pin), ana)
        # `radius-server test` sends no Calling-Station-Id: a new device, refused too.
        probe = cli("test", EMAIL, pin, "--server", f"127.0.0.1:{b.auth_port}")
        assert probe.code == 1
        assert "Access-Reject" in probe.out and "Device limit reached" in probe.out
        # Device-limit rejects are not guesses: no lock anywhere.
        assert "lockout_started" not in a.output() + b.output()
        # One phone leaves, its Stop sent to B: A follows, and a new phone gets on (a
        # reject counts nothing, so asking until the Stop has arrived is fine).
        send_accounting(b, c.ACCT_STATUS_STOP, "s1", STATIONS[1], classes[1])
        eventually(lambda: "Access-Accept" in answer(a, STATIONS[6], pin), "A follows the Stop")
    assert pin not in a.output() + b.output()


def test_a_members_own_limit_reaches_running_servers(
    pg_url: str, tmp_path: Path, store: SessionStore
) -> None:
    """customer update --device-limit: through the change feed, no restart."""
    cli = Cli(pg_url, tmp_path)
    pin = prepare_site(cli)
    ana = member_id(cli)
    with running_server(pg_url, tmp_path / "a", RADIUS_DEVICE_LIMIT="1") as a:
        mark = a.mark()
        now = time.time()
        store.write([accounting(StatusType.START, "s0", ana, STATIONS[0], now)], now)
        followed(a, mark, 1)
        assert "Access-Reject" in answer(a, STATIONS[1], pin)
        for limit, station, heard in (
            ("2", STATIONS[2], "Access-Accept"),
            ("0", STATIONS[3], "Access-Accept"),  # unlimited: a third device
            ("default", STATIONS[4], "Access-Reject"),  # the setting: 1
        ):
            mark = a.mark()
            assert cli("customer", "update", EMAIL, "--device-limit", limit).code == 0
            a.wait_for("customers_updated", since=mark, timeout=WAIT_SECONDS)
            assert heard in answer(a, station, pin), limit


def test_stale_sessions_are_closed_once_and_old_ones_pruned(
    pg_url: str, tmp_path: Path, store: SessionStore
) -> None:
    """Both instances run the loop at start: the silent session is closed and logged once."""
    cli = Cli(pg_url, tmp_path)
    pin = prepare_site(cli)
    ana = member_id(cli)
    now = time.time()
    silent = now - (2 * 60 + 30 + 5)  # past 2 x acct_interim_interval + grace below
    store.write([accounting(StatusType.START, "silent", ana, STATIONS[0], silent)], now)
    store.write([accounting(StatusType.START, "alive", ana, STATIONS[1], now)], now)
    ancient = now - 3 * 86400
    store.write(
        [
            accounting(StatusType.START, "old", ana, STATIONS[2], ancient),
            accounting(StatusType.STOP, "old", ana, STATIONS[2], ancient + 60),
        ],
        now,
    )
    env = {
        "RADIUS_ACCT_INTERIM_INTERVAL": "60",
        "RADIUS_SESSION_STALE_GRACE": "30",
        "RADIUS_SESSION_RETENTION_DAYS": "1",
        "RADIUS_DEVICE_LIMIT": "2",
    }
    with (
        running_server(pg_url, tmp_path / "a", **env) as a,
        running_server(pg_url, tmp_path / "b", **env) as b,
    ):
        eventually(
            lambda: (
                bool(a.find("session_stale_closed", timeout=0))
                or bool(b.find("session_stale_closed", timeout=0))
            ),
            "the silent session closed",
        )
        event = (
            a.find("session_stale_closed", timeout=0) + b.find("session_stale_closed", timeout=0)
        )[0]
        assert event["user"] == EMAIL and event["nas"] == "loopback"
        assert event["session_id"] == "silent"
        assert event["last_update"].startswith(time.strftime("%Y-%m-%d", time.gmtime(silent)))
        eventually(
            lambda: bool(
                a.find("sessions_pruned", timeout=0) + b.find("sessions_pruned", timeout=0)
            ),
            "the old session pruned",
        )
        pruned = a.find("sessions_pruned", timeout=0) + b.find("sessions_pruned", timeout=0)
        assert pruned[0]["count"] == 1
        # Only the live session counts: limit 2 leaves room for one more phone.
        assert "Access-Accept" in answer(a, STATIONS[3], pin)
        # Let both finish a round, then count: one close, one prune, between them.
        time.sleep(1.0)
        both = a.output() + b.output()
        assert both.count('"session_stale_closed"') == 1
        assert both.count('"sessions_pruned"') == 1
    sessions = {s.acct_session_id: s for s in store.find(limit=10)}
    assert sessions["silent"].close_reason == "stale"
    assert sessions["alive"].stopped_at is None
    assert "old" not in sessions
