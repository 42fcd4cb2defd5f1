"""The disconnect runner on a real database, the real sender and a DAS on real UDP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.protocol import codes as c
from radius_server.rules.directory import Directory
from radius_server.runtime.disconnector import Disconnector
from radius_server.runtime.sync import client_from_record
from radius_server.store.clients import ClientRepository
from radius_server.store.customers import CustomerRepository
from radius_server.store.disconnects import DisconnectQueue, DisconnectRequests
from radius_server.store.models import DisconnectJob
from radius_server.store.sessions import SessionStore
from tests.integration.das_responder import DasResponder, das_responder
from tests.integration.test_disconnect_jobs import ANA, open_session
from tests.unit.engine_harness import RecordingLog

RADIUS_SECRET = "radius-secret-for-the-runner-0123"
COA_SECRET = "coa-secret-for-the-runner-456789"


@pytest.fixture
def das() -> Iterator[DasResponder]:
    with das_responder(COA_SECRET.encode()) as responder:
        yield responder


@pytest.fixture
def site(clean_sessions: sessionmaker[Session], das: DasResponder) -> sessionmaker[Session]:
    """ap1 on 127.0.0.1 taking Disconnect-Requests at the responder; Ana online there."""
    ClientRepository(clean_sessions).add(
        "ap1",
        "127.0.0.1",
        RADIUS_SECRET,
        coa_port=das.port,
        coa_secret=COA_SECRET,
    )
    CustomerRepository(clean_sessions, actor="tester").add(ANA, pin="11111")
    open_session(clean_sessions, ANA, "a1")
    return clean_sessions


def run_queue(sessions: sessionmaker[Session], timeouts: tuple[float, ...]) -> RecordingLog:
    """One runner round over the whole queue, jobs to their end; its log."""
    directory = Directory()
    directory.clients.replace_all(client_from_record(r) for r in ClientRepository(sessions).find())
    log = RecordingLog()
    runner = Disconnector(
        DisconnectQueue(sessions, "test-instance"),
        SessionStore(sessions),
        directory,
        log,
        timeouts=timeouts,
        deadline=10.0,
    )

    async def rounds() -> None:
        await runner.poll_once()
        await runner.drain(30)
        runner.close()

    asyncio.run(rounds())
    return log


def only_job(sessions: sessionmaker[Session]) -> DisconnectJob:
    with sessions() as session:
        return session.scalars(select(DisconnectJob)).one()


def test_ack_closes_the_session(site: sessionmaker[Session], das: DasResponder) -> None:
    CustomerRepository(site, actor="tester").set_pin(ANA, "22222")
    log = run_queue(site, (1.0, 2.0))
    [request] = das.wait_for(1)
    assert request.text(c.USER_NAME) == ANA
    assert request.text(c.ACCT_SESSION_ID) == "A1"
    assert request.text(c.NAS_IDENTIFIER) == "lobby"
    assert request.attributes[c.NAS_IP_ADDRESS] == [bytes([127, 0, 0, 1])]
    assert request.text(c.CALLING_STATION_ID) == "aa-bb-cc-dd-ee-01"
    assert c.EVENT_TIMESTAMP in request.attributes
    assert das.dropped == 0  # signed with the CoA secret, both authenticators right
    assert SessionStore(site).open_sessions(ANA) == []
    [closed] = SessionStore(site).find(member_email=ANA)
    assert closed.close_reason == "disconnect"
    job = only_job(site)
    assert job.claimed_by == "test-instance" and job.done_at is not None
    assert job.result == "acked=1 nak=0 timeout=0 unsupported=0 error=0"
    assert [e["event"] for e in log.events if e["event"].startswith("disconnect_")] == [
        "disconnect_sent",
        "disconnect_acked",
        "disconnect_job_done",
    ]
    done = log.named("disconnect_job_done")[0]
    assert (done["reason"], done["user"], done["acked"]) == ("pin_changed", ANA, 1)
    assert not any(COA_SECRET in repr(e) or RADIUS_SECRET in repr(e) for e in log.events)


def test_nak_is_logged_with_its_error_cause(site: sessionmaker[Session], das: DasResponder) -> None:
    das.mode, das.error_cause = "nak", 503
    DisconnectRequests(site, actor="cli:admin").request_member(ANA)
    log = run_queue(site, (1.0, 2.0))
    [nak] = log.named("disconnect_nak")
    assert (nak["error_cause"], nak["error_name"]) == (503, "Session-Context-Not-Found")
    assert (nak["user"], nak["reason"]) == (ANA, "admin")
    assert len(SessionStore(site).open_sessions(ANA)) == 1  # not confirmed: left open
    assert only_job(site).result == "acked=0 nak=1 timeout=0 unsupported=0 error=0"


def test_silence_times_out_after_the_retransmissions(
    site: sessionmaker[Session], das: DasResponder
) -> None:
    das.mode = "silent"
    CustomerRepository(site, actor="tester").remove(ANA)
    log = run_queue(site, (0.2, 0.2, 0.2))
    assert len(das.received) == 3  # sent three times...
    assert len(das.distinct()) == 1  # ...as one request (same identifier and authenticator)
    [timeout] = log.named("disconnect_timeout")
    assert timeout["attempts"] == 3
    assert len(SessionStore(site).open_sessions(ANA)) == 1
    assert only_job(site).result == "acked=0 nak=0 timeout=1 unsupported=0 error=0"
    assert log.named("disconnect_job_done")[0]["reason"] == "removed"
