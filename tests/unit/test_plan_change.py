"""plan_changed jobs: a CoA-Request with the new plan where the NAS takes it, else a disconnect.

The runner with the fakes of test_disconnector.py (its sender answers CoA- and
Disconnect-Requests differently per session).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace

from radius_server.protocol import codes as c
from radius_server.rules.directory import Client
from radius_server.rules.plans import Plan, PlanDefinition
from radius_server.runtime.disconnector import Disconnector
from radius_server.runtime.plan_change import (
    COA_OFF,
    NO_ATTRIBUTES,
    NO_PLAN,
    WRONG_LOCATION,
    authorization,
    change_for,
)
from radius_server.store.disconnects import parse_result
from tests.unit.engine_harness import RecordingLog
from tests.unit.test_disconnector import (
    AP1,
    NOW,
    FakeQueue,
    FakeSender,
    FakeSessions,
    directory,
    job,
    session,
    work,
)

VLAN_20 = (
    (c.TUNNEL_TYPE, (13).to_bytes(4, "big")),
    (c.TUNNEL_MEDIUM_TYPE, (6).to_bytes(4, "big")),
    (c.TUNNEL_PRIVATE_GROUP_ID, b"20"),
)
MIKROTIK_RATE = ((c.VENDOR_SPECIFIC, bytes.fromhex("00003a8c") + b"\x08\x0a5M/10M"),)
HOT_DESK = Plan(
    id=2,
    name="hot-desk",
    definition=PlanDefinition(id=2, name="hot-desk", session_timeout=7200),
    session_timeout=7200,
    interim=(c.ACCT_INTERIM_INTERVAL, (300).to_bytes(4, "big")),
    replies={"generic": VLAN_20, "mikrotik": VLAN_20 + MIKROTIK_RATE},
)
# ap1: takes CoA-Requests (nas --coa), at location 1; ap2: only Disconnect-Requests.
COA_AP = replace(AP1, coa=True, location_id=1)
MIKROTIK_AP = replace(
    AP1,
    id=4,
    name="mk1",
    network=ipaddress.ip_network("192.0.2.64/26"),
    coa=True,
    vendor="mikrotik",
)
PLAIN_AP = replace(AP1, id=5, name="ap2", network=ipaddress.ip_network("198.51.100.0/24"))


def plan_job(
    sessions: FakeSessions,
    sender: FakeSender,
    *clients: Client,
    plan: Plan | None = HOT_DESK,
) -> tuple[FakeQueue, RecordingLog]:
    """Run one plan_changed job for ana over ``sessions``; the queue and the log."""
    queue = FakeQueue([job(3, reason="plan_changed")])
    log = RecordingLog()
    loaded: list[str] = []

    def plan_of(email: str) -> Plan | None:
        loaded.append(email)
        return plan

    runner = Disconnector(
        queue,  # type: ignore[arg-type]
        sessions,  # type: ignore[arg-type]
        directory(*clients),
        log,
        timeouts=(0.5,),
        send=sender,
        clock=lambda: NOW,
        plan_of=plan_of,
    )
    asyncio.run(work(runner))
    assert loaded == ["ana@example.com"]  # once per job, from the store
    return queue, log


def test_coa_acked_keeps_the_session_with_the_new_attributes() -> None:
    sessions = FakeSessions({1: session(1)})
    sender = FakeSender()
    queue, log = plan_job(sessions, sender, COA_AP)
    [sent] = sender.sent
    assert sent.code == c.Code.COA_REQUEST
    assert sent.fields["plan"] == "hot-desk" and sent.fields["reason"] == "plan_changed"
    types = [t for t, _ in sent.attributes]
    # The session, then the plan's attributes, Event-Timestamp last.
    assert types == [
        c.USER_NAME,
        c.ACCT_SESSION_ID,
        c.CALLING_STATION_ID,
        c.NAS_IDENTIFIER,
        c.NAS_IP_ADDRESS,
        c.TUNNEL_TYPE,
        c.TUNNEL_MEDIUM_TYPE,
        c.TUNNEL_PRIVATE_GROUP_ID,
        c.SESSION_TIMEOUT,
        c.ACCT_INTERIM_INTERVAL,
        c.EVENT_TIMESTAMP,
    ]
    assert dict(sent.attributes)[c.SESSION_TIMEOUT] == (7200).to_bytes(4, "big")
    assert sessions.closed == []  # stays online, on the new plan
    assert queue.completed[3] == (
        "acked=0 nak=0 timeout=0 unsupported=0 error=0 "
        "coa_acked=1 coa_nak=0 coa_timeout=0 coa_error=0"
    )
    [done] = log.named("disconnect_job_done")
    assert (done["reason"], done["coa_acked"], done["acked"]) == ("plan_changed", 1, 0)


def test_the_nas_vendor_picks_the_attributes() -> None:
    sender = FakeSender()
    plan_job(FakeSessions({1: session(1, client="mk1")}), sender, MIKROTIK_AP)
    [sent] = sender.sent
    assert (c.VENDOR_SPECIFIC, MIKROTIK_RATE[0][1]) in sent.attributes


def test_coa_nak_or_silence_falls_back_to_a_disconnect() -> None:
    sessions = FakeSessions({1: session(1), 2: session(2)})
    sender = FakeSender(coa={"SESSION1": "nak", "SESSION2": "timeout"}, answers={"SESSION2": "nak"})
    queue, _ = plan_job(sessions, sender, COA_AP)
    by_session: dict[int, list[int]] = {}
    for sent in sender.sent:
        by_session.setdefault(sent.fields["session"], []).append(sent.code)
    both = [c.Code.COA_REQUEST, c.Code.DISCONNECT_REQUEST]
    assert by_session == {1: both, 2: both}
    fallbacks = {s.fields["session"]: s.fields.get("fallback") for s in sender.sent}
    assert fallbacks == {1: "coa_nak", 2: "coa_timeout"}
    assert sessions.closed == [(1, "disconnect")]  # session 2's disconnect was refused too
    assert parse_result(queue.completed[3]) == {
        "acked": 1,
        "nak": 1,
        "timeout": 0,
        "unsupported": 0,
        "error": 0,
        "coa_acked": 0,
        "coa_nak": 1,
        "coa_timeout": 1,
        "coa_error": 0,
    }


def test_a_nas_without_the_coa_flag_gets_the_disconnect_directly() -> None:
    sessions = FakeSessions({1: session(1, client="ap2", nas_address="198.51.100.9")})
    sender = FakeSender()
    queue, _ = plan_job(sessions, sender, PLAIN_AP)
    [sent] = sender.sent
    assert sent.code == c.Code.DISCONNECT_REQUEST
    assert (sent.fields["fallback"], sent.fields["plan"]) == (COA_OFF, "hot-desk")
    assert sessions.closed == [(1, "disconnect")]
    assert parse_result(queue.completed[3])["coa_acked"] == 0


def test_a_plan_not_valid_at_the_nas_location_disconnects() -> None:
    elsewhere = replace(HOT_DESK, location_ids=frozenset({2}))
    sender = FakeSender()
    plan_job(FakeSessions({1: session(1)}), sender, COA_AP, plan=elsewhere)
    [sent] = sender.sent
    assert (sent.code, sent.fields["fallback"]) == (c.Code.DISCONNECT_REQUEST, WRONG_LOCATION)


def test_a_nas_without_a_dynauth_port_is_unsupported() -> None:
    sender = FakeSender()
    queue, log = plan_job(FakeSessions({1: session(1)}), sender, replace(COA_AP, coa_port=None))
    assert sender.sent == []
    [unsupported] = log.named("disconnect_unsupported")
    assert (unsupported["detail"], unsupported["plan"]) == ("no_coa_port", "hot-desk")
    assert parse_result(queue.completed[3])["unsupported"] == 1


def test_change_for_decisions() -> None:
    assert change_for(None, COA_AP).disconnect_because == NO_PLAN
    assert change_for(HOT_DESK, PLAIN_AP).disconnect_because == COA_OFF
    nowhere = replace(HOT_DESK, location_ids=frozenset())
    assert change_for(nowhere, COA_AP).disconnect_because == WRONG_LOCATION
    # A NAS with no location is outside a plan limited to some.
    limited = replace(HOT_DESK, location_ids=frozenset({1}))
    assert change_for(limited, replace(COA_AP, location_id=None)).disconnect_because == (
        WRONG_LOCATION
    )
    assert change_for(limited, COA_AP).attributes == authorization(HOT_DESK, COA_AP)
    empty = Plan(id=1, name="default", definition=PlanDefinition(id=1, name="default"))
    assert change_for(empty, COA_AP).disconnect_because == NO_ATTRIBUTES


def test_authorization_does_not_repeat_what_the_replies_carry() -> None:
    own_timeout = replace(
        HOT_DESK, replies={"generic": ((c.SESSION_TIMEOUT, (60).to_bytes(4, "big")),)}
    )
    assert authorization(own_timeout, COA_AP) == (
        (c.SESSION_TIMEOUT, (60).to_bytes(4, "big")),
        (c.ACCT_INTERIM_INTERVAL, (300).to_bytes(4, "big")),
    )
    # An unknown vendor gets the generic attributes.
    assert authorization(HOT_DESK, replace(COA_AP, vendor="ruckus"))[:3] == VLAN_20
