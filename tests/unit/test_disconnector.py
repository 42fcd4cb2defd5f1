"""The disconnect runner with fake queue, session store and sender: what it sends, closes, logs."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from radius_server.protocol import codes as c
from radius_server.rules.directory import Client, Directory
from radius_server.runtime.disconnector import Disconnector, request_attributes, target_host
from radius_server.store.disconnects import DisconnectJobRecord, parse_result
from radius_server.store.errors import SessionNotFound
from radius_server.store.records import SessionRecord
from tests.unit.engine_harness import RecordingLog

NOW = 1_800_000_000.0
WHEN = datetime.fromtimestamp(NOW, UTC)
RADIUS_SECRET = b"radius-secret-0123456789"
COA_SECRET = b"coa-secret-0123456789abcdef"


def session(sid: int, client: str = "ap1", **changes: Any) -> SessionRecord:
    base = SessionRecord(
        id=sid,
        unique_key=f"{sid:032x}",
        client_name=client,
        nas_address="192.0.2.10",
        nas_ip_address="192.0.2.10",
        nas_identifier="lobby",
        nas_port=None,
        acct_session_id=f"SESSION{sid}",
        user_name="ana@example.com",
        member_email="ana@example.com",
        customer_id=1,
        calling_station_id="aa-bb-cc-dd-ee-0" + str(sid % 10),
        called_station_id=None,
        framed_ip_address=None,
        class_hex=None,
        started_at=WHEN,
        updated_at=WHEN,
        stopped_at=None,
        session_time=0,
        input_octets=0,
        output_octets=0,
        input_packets=0,
        output_packets=0,
        terminate_cause=None,
        close_reason=None,
        changed_at=WHEN,
    )
    return replace(base, **changes)


def job(job_id: int = 1, *, session_id: int | None = None, reason: str = "pin_changed") -> Any:
    return DisconnectJobRecord(
        id=job_id,
        member_email="ana@example.com",
        session_id=session_id,
        reason=reason,
        requested_by="tester",
        created_at=WHEN,
        claimed_by="me",
        claimed_at=WHEN,
        done_at=None,
        result=None,
    )


@dataclass
class FakeQueue:
    waiting: list[DisconnectJobRecord] = field(default_factory=list)
    completed: dict[int, str] = field(default_factory=dict)
    validity_checks: int = 0
    fail: bool = False

    def has_work(self, now: float) -> bool:
        if self.fail:
            raise ConnectionError("database away")
        return bool(self.waiting)

    def settle_idle(self, now: float, limit: int = 1000) -> list[DisconnectJobRecord]:
        return []  # the store test covers it; here every job goes the long way

    def claim(self, now: float, limit: int = 16) -> list[DisconnectJobRecord]:
        taken, self.waiting = self.waiting[:limit], self.waiting[limit:]
        return taken

    def complete(self, job_id: int, now: float, result: str) -> bool:
        self.completed[job_id] = result
        return True

    def enqueue_validity_ended(self, now: float) -> list[str]:
        if self.fail:
            raise ConnectionError("database away")
        self.validity_checks += 1
        return []

    def prune(self, before: float) -> int:
        return 0


@dataclass
class FakeSessions:
    rows: dict[int, SessionRecord] = field(default_factory=dict)
    closed: list[tuple[int, str]] = field(default_factory=list)

    def open_sessions(self, member_email: str) -> list[SessionRecord]:
        return [s for s in self.rows.values() if s.member_email == member_email and s.online]

    def get(self, session_id: int) -> SessionRecord:
        try:
            return self.rows[session_id]
        except KeyError:
            raise SessionNotFound(f"no session with id {session_id}") from None

    def close(self, session_id: int, now: float, reason: str) -> bool:
        self.closed.append((session_id, reason))
        self.rows[session_id] = replace(self.rows[session_id], stopped_at=WHEN)
        return True


@dataclass
class Sent:
    target: tuple[str, int]
    secret: bytes
    code: int
    attributes: list[tuple[int, bytes]]
    timeouts: tuple[float, ...]
    fields: dict[str, Any]


@dataclass
class Outcome:
    status: str


class FakeSender:
    """Answers per Acct-Session-Id; records what was sent and how many were in flight.

    CoA-Requests are answered from ``coa`` (default ACK), Disconnect-Requests from ``answers``.
    """

    def __init__(
        self,
        answers: Mapping[str, str] | None = None,
        delay: float = 0.01,
        coa: Mapping[str, str] | None = None,
    ) -> None:
        self.answers = dict(answers or {})
        self.coa = dict(coa or {})
        self.delay = delay
        self.sent: list[Sent] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(
        self,
        target: tuple[str, int],
        secret: bytes,
        code: int,
        attributes: Sequence[tuple[int, bytes]],
        *,
        timeouts: Sequence[float],
        log: Any,
        log_fields: Mapping[str, Any] | None = None,
    ) -> Outcome:
        self.sent.append(
            Sent(target, secret, code, list(attributes), tuple(timeouts), dict(log_fields or {}))
        )
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        session_id = dict(attributes)[c.ACCT_SESSION_ID].decode()
        answers = self.coa if code == c.Code.COA_REQUEST else self.answers
        return Outcome(answers.get(session_id, "acked"))


def directory(*clients: Client) -> Directory:
    found = Directory()
    found.clients.replace_all(clients)
    return found


AP1 = Client(
    id=1,
    name="ap1",
    network=ipaddress.ip_network("192.0.2.0/24"),
    secret=RADIUS_SECRET,
    require_message_authenticator=True,
    coa_port=3799,
)
AP2 = Client(
    id=2,
    name="ap2",
    network=ipaddress.ip_network("198.51.100.0/24"),
    secret=RADIUS_SECRET,
    require_message_authenticator=True,
    coa_port=1700,
    coa_secret=COA_SECRET,
)
OLD_AP = Client(
    id=3,
    name="old-ap",
    network=ipaddress.ip_network("203.0.113.0/24"),
    secret=RADIUS_SECRET,
    require_message_authenticator=False,
)


def runner(
    queue: FakeQueue, sessions: FakeSessions, sender: FakeSender, log: RecordingLog
) -> Disconnector:
    return Disconnector(
        queue,  # type: ignore[arg-type]
        sessions,  # type: ignore[arg-type]
        directory(AP1, AP2, OLD_AP),
        log,
        interval=0.01,
        timeouts=(0.5, 1.0),
        send=sender,
        clock=lambda: NOW,
    )


async def work(disconnector: Disconnector) -> None:
    """One poll, then every job it started to its end."""
    await disconnector.poll_once()
    await disconnector.drain(10)
    disconnector.close()


def test_every_open_session_gets_one_request_in_parallel() -> None:
    queue = FakeQueue([job(7)])
    sessions = FakeSessions(
        {
            1: session(1),
            2: session(2, client="ap2", nas_address="::ffff:198.51.100.7", nas_identifier=None),
            3: session(3, client="old-ap"),
            4: session(4, stopped_at=WHEN),  # closed already
            5: session(5, member_email="bo@example.com"),
        }
    )
    sender = FakeSender({"SESSION2": "nak"}, delay=0.05)
    log = RecordingLog()
    asyncio.run(work(runner(queue, sessions, sender, log)))

    by_session = {s.fields["session"]: s for s in sender.sent}
    assert sorted(by_session) == [1, 2]
    assert sender.most_in_flight == 2  # side by side, not one after the other
    first, second = by_session[1], by_session[2]
    assert first.target == ("192.0.2.10", 3799) and first.secret == RADIUS_SECRET
    # The NAS's own secret when it has one; an IPv4-mapped source address as IPv4.
    assert second.target == ("198.51.100.7", 1700) and second.secret == COA_SECRET
    assert first.code == c.Code.DISCONNECT_REQUEST and first.timeouts == (0.5, 1.0)
    assert first.fields == {
        "job": 7,
        "reason": "pin_changed",
        "user": "ana@example.com",
        "session": 1,
        "client": "ap1",
    }
    attrs = dict(first.attributes)
    assert attrs[c.USER_NAME] == b"ana@example.com"
    assert attrs[c.ACCT_SESSION_ID] == b"SESSION1"
    assert attrs[c.CALLING_STATION_ID] == b"aa-bb-cc-dd-ee-01"
    assert attrs[c.NAS_IP_ADDRESS] == bytes([192, 0, 2, 10])
    assert attrs[c.NAS_IDENTIFIER] == b"lobby"
    assert int.from_bytes(attrs[c.EVENT_TIMESTAMP], "big") == int(NOW)
    assert c.NAS_IDENTIFIER not in dict(second.attributes)

    # ACK closes; NAK leaves the session open; the NAS without a CoA port is logged.
    assert sessions.closed == [(1, "disconnect")]
    [unsupported] = log.named("disconnect_unsupported")
    assert (unsupported["session"], unsupported["detail"]) == (3, "no_coa_port")
    assert parse_result(queue.completed[7]) == {
        "acked": 1,
        "nak": 1,
        "timeout": 0,
        "unsupported": 1,
        "error": 0,
    }
    [done] = log.named("disconnect_job_done")
    assert {k: done[k] for k in ("job", "reason", "user", "sessions")} == {
        "job": 7,
        "reason": "pin_changed",
        "user": "ana@example.com",
        "sessions": 3,
    }
    assert (done["acked"], done["nak"], done["timeout"], done["unsupported"]) == (1, 1, 0, 1)


def test_a_job_without_open_sessions_completes_at_once() -> None:
    queue = FakeQueue([job(1), job(2, session_id=99), job(3, session_id=4)])
    sessions = FakeSessions({4: session(4, stopped_at=WHEN)})
    sender = FakeSender()
    log = RecordingLog()
    asyncio.run(work(runner(queue, sessions, sender, log)))
    assert sender.sent == []
    assert sorted(queue.completed) == [1, 2, 3]
    assert all(parse_result(r)["acked"] == 0 for r in queue.completed.values())
    assert len(log.named("disconnect_job_done")) == 3


def test_one_session_job_sends_only_to_that_session() -> None:
    queue = FakeQueue([job(1, session_id=2, reason="admin")])
    sessions = FakeSessions({1: session(1), 2: session(2)})
    sender = FakeSender({"SESSION2": "timeout"})
    log = RecordingLog()
    asyncio.run(work(runner(queue, sessions, sender, log)))
    assert [s.fields["session"] for s in sender.sent] == [2]
    assert sessions.closed == []
    assert parse_result(queue.completed[1])["timeout"] == 1


def test_a_database_outage_is_logged_once_and_jobs_wait() -> None:
    queue = FakeQueue([job(1)], fail=True)
    log = RecordingLog()
    disconnector = runner(queue, FakeSessions(), FakeSender(), log)

    async def rounds() -> None:
        await disconnector.poll_once()
        await disconnector.poll_once()
        queue.fail = False
        await disconnector.poll_once()
        await disconnector.drain(5)
        disconnector.close()

    asyncio.run(rounds())
    assert len(log.named("disconnect_queue_degraded")) == 1
    assert len(log.named("disconnect_queue_recovered")) == 1
    assert list(queue.completed) == [1]


def test_run_polls_until_stopped() -> None:
    queue = FakeQueue()
    disconnector = runner(queue, FakeSessions({1: session(1)}), FakeSender(), RecordingLog())

    async def scenario() -> None:
        task = asyncio.create_task(disconnector.run())
        await asyncio.sleep(0.05)
        queue.waiting.append(job(5))  # a job queued while the runner waits
        for _ in range(200):
            if 5 in queue.completed:
                break
            await asyncio.sleep(0.01)
        disconnector.stop()
        await task
        disconnector.close()

    asyncio.run(scenario())
    assert 5 in queue.completed
    assert queue.validity_checks == 1  # once at start; the next is 30 s away


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_target_host(address: str, expected: str) -> None:
    assert target_host(address) == expected


def test_attributes_for_an_ipv6_nas() -> None:
    attrs = dict(request_attributes(session(1, nas_ip_address="2001:db8::5"), NOW))
    assert attrs[c.NAS_IPV6_ADDRESS] == ipaddress.IPv6Address("2001:db8::5").packed
    assert c.NAS_IP_ADDRESS not in attrs
    assert c.MESSAGE_AUTHENTICATOR not in attrs  # the sender adds it
