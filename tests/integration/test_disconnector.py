"""The disconnect runner on a real database, the real sender and a DAS on real UDP.

plan_changed jobs too: the member's new plan read from the database, a CoA-Request
the DAS ACKs, NAKs or ignores, and the Disconnect-Request that follows the last two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.protocol import codes as c
from radius_server.rules.directory import Directory
from radius_server.runtime.disconnector import Disconnector
from radius_server.runtime.plan_change import plan_loader
from radius_server.runtime.sync import client_from_record
from radius_server.store import disconnects
from radius_server.store.clients import ClientRepository
from radius_server.store.customers import CustomerRepository
from radius_server.store.disconnects import DisconnectQueue, DisconnectRequests, parse_result
from radius_server.store.models import AccessPlan, Customer, DisconnectJob, RadiusClient
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
        plan_of=plan_loader(sessions),
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


def change_plan(sessions: sessionmaker[Session], *, coa: bool = True) -> None:
    """ap1 marked as taking CoA-Requests (or not); Ana moved to plan "hot-desk", with its job.

    As ``customer update --plan`` does it: the change and the plan_changed job in one
    transaction.
    """
    with sessions() as session:
        session.execute(update(RadiusClient).values(coa=coa))
        plan = AccessPlan(name="hot-desk", session_timeout=7200, interim_interval=300)
        session.add(plan)
        session.flush()
        session.execute(update(Customer).where(Customer.email == ANA).values(plan_id=plan.id))
        disconnects.enqueue(session, ANA, disconnects.PLAN_CHANGED, "tester")
        session.commit()


def test_plan_change_coa_acked_keeps_the_session(
    site: sessionmaker[Session], das: DasResponder
) -> None:
    change_plan(site)
    log = run_queue(site, (1.0, 2.0))
    [request] = das.distinct()
    assert request.code == c.Code.COA_REQUEST
    # The session, as for a Disconnect-Request, plus the new plan's attributes.
    assert request.text(c.USER_NAME) == ANA
    assert request.text(c.ACCT_SESSION_ID) == "A1"
    assert request.attributes[c.SESSION_TIMEOUT] == [(7200).to_bytes(4, "big")]
    assert request.attributes[c.ACCT_INTERIM_INTERVAL] == [(300).to_bytes(4, "big")]
    assert c.CLASS not in request.attributes  # the session keeps the Class it signed in with
    assert c.EVENT_TIMESTAMP in request.attributes
    assert das.dropped == 0
    assert len(SessionStore(site).open_sessions(ANA)) == 1  # still online, new plan
    assert only_job(site).result == (
        "acked=0 nak=0 timeout=0 unsupported=0 error=0 "
        "coa_acked=1 coa_nak=0 coa_timeout=0 coa_error=0"
    )
    assert [e["event"] for e in log.events if e["event"].startswith(("coa_", "disconnect_"))] == [
        "coa_sent",
        "coa_acked",
        "disconnect_job_done",
    ]
    acked = log.named("coa_acked")[0]
    assert (acked["plan"], acked["reason"], acked["user"]) == ("hot-desk", "plan_changed", ANA)


def test_plan_change_coa_nak_falls_back_to_a_disconnect(
    site: sessionmaker[Session], das: DasResponder
) -> None:
    das.coa_mode, das.error_cause = "nak", 401
    change_plan(site)
    log = run_queue(site, (1.0, 2.0))
    requests = das.wait_for(2)
    assert [r.code for r in requests] == [c.Code.COA_REQUEST, c.Code.DISCONNECT_REQUEST]
    [nak] = log.named("coa_nak")
    assert (nak["error_cause"], nak["error_name"]) == (401, "Unsupported-Attribute")
    [acked] = log.named("disconnect_acked")
    assert (acked["fallback"], acked["plan"]) == ("coa_nak", "hot-desk")
    assert SessionStore(site).open_sessions(ANA) == []  # signs in again, on the new plan
    assert parse_result(only_job(site).result) == {
        "acked": 1,
        "nak": 0,
        "timeout": 0,
        "unsupported": 0,
        "error": 0,
        "coa_acked": 0,
        "coa_nak": 1,
        "coa_timeout": 0,
        "coa_error": 0,
    }


def test_plan_change_coa_silence_falls_back_to_a_disconnect(
    site: sessionmaker[Session], das: DasResponder
) -> None:
    das.coa_mode = "silent"
    change_plan(site)
    log = run_queue(site, (0.2, 0.2))
    assert len(das.distinct(c.Code.COA_REQUEST)) == 1  # one request, sent twice
    assert len([r for r in das.received if r.code == c.Code.COA_REQUEST]) == 2
    [timeout] = log.named("coa_timeout")
    assert timeout["attempts"] == 2
    assert log.named("disconnect_acked")[0]["fallback"] == "coa_timeout"
    assert SessionStore(site).open_sessions(ANA) == []
    counts = parse_result(only_job(site).result)
    assert (counts["coa_timeout"], counts["acked"]) == (1, 1)


def test_plan_change_without_the_coa_flag_disconnects_at_once(
    site: sessionmaker[Session], das: DasResponder
) -> None:
    change_plan(site, coa=False)
    log = run_queue(site, (1.0, 2.0))
    [request] = das.wait_for(1)
    assert request.code == c.Code.DISCONNECT_REQUEST
    assert c.SESSION_TIMEOUT not in request.attributes
    assert log.named("disconnect_acked")[0]["fallback"] == "coa_off"
    assert not log.named("coa_sent")
    assert SessionStore(site).open_sessions(ANA) == []


def test_plan_change_to_an_empty_default_plan_disconnects(
    site: sessionmaker[Session], das: DasResponder
) -> None:
    """Back on the default plan (which sets nothing): a CoA-Request could not take the old
    plan's attributes away, so the session is disconnected."""
    with site() as session:
        session.execute(update(RadiusClient).values(coa=True))
        if session.scalars(select(AccessPlan).where(AccessPlan.is_default)).first() is None:
            session.add(AccessPlan(name="default", is_default=True))  # as migration 0006 has it
        disconnects.enqueue(session, ANA, disconnects.PLAN_CHANGED, "tester")
        session.commit()
    log = run_queue(site, (1.0, 2.0))
    [request] = das.wait_for(1)
    assert request.code == c.Code.DISCONNECT_REQUEST
    acked = log.named("disconnect_acked")[0]
    assert (acked["fallback"], acked["plan"]) == ("no_attributes", "default")
    assert SessionStore(site).open_sessions(ANA) == []
