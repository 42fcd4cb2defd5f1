"""plan_changed jobs: a CoA-Request with the new plan where the NAS takes it, else a disconnect.

The runner with the fakes of test_disconnector.py (its sender answers CoA- and
Disconnect-Requests differently per session).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace
from datetime import UTC

from radius_server.protocol import codes as c
from radius_server.rules import policy
from radius_server.rules.directory import Client, Member
from radius_server.rules.plans import Location, Plan, PlanDefinition, compile_plan
from radius_server.runtime.disconnector import Disconnector
from radius_server.runtime.plan_change import (
    COA_OFF,
    NO_ATTRIBUTES,
    NO_PLAN,
    NOT_ALLOWED,
    MemberPlan,
    change_for,
    sets_anything,
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
from tests.unit.test_policy import BASE

# NOW is Friday 2027-01-15 08:00 UTC.
HOT_DESK = compile_plan(
    PlanDefinition(
        id=2,
        name="hot-desk",
        vlan=20,
        down_kbps=10_000,
        up_kbps=2_000,
        session_timeout=7200,
        interim_interval=300,
    )
)
EMPTY_DEFAULT = compile_plan(PlanDefinition(id=1, name="default", is_default=True))
ANA = replace(BASE, plan_id=2)  # the member rules' own test member
RULES = policy.session_rules(0, 600, UTC)
LOBBY = Location(id=1, name="lobby", timezone="Europe/Madrid")
# ap1: takes CoA-Requests (nas --coa), at location 1; mk1 too, a MikroTik; ap2: only
# Disconnect-Requests.
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
    member: Member = ANA,
    stale: tuple[Client, ...] | None = None,
) -> tuple[FakeQueue, RecordingLog]:
    """Run one plan_changed job for ana over ``sessions``; the queue and the log.

    ``clients`` are the NAS records as the database has them; ``stale``, if given, what
    this server's directory still holds (the change feed not there yet).
    """
    queue = FakeQueue([job(3, reason="plan_changed")])
    log = RecordingLog()
    loaded: list[str] = []

    def plan_of(email: str) -> MemberPlan | None:
        loaded.append(email)
        return MemberPlan(member, plan, {c.name: c for c in clients}, {LOBBY.id: LOBBY})

    found = directory(*(clients if stale is None else stale))
    runner = Disconnector(
        queue,  # type: ignore[arg-type]
        sessions,  # type: ignore[arg-type]
        found,
        log,
        timeouts=(0.5,),
        send=sender,
        clock=lambda: NOW,
        plan_of=plan_of,
        rules=RULES,
    )
    asyncio.run(work(runner))
    assert loaded == ["ana@example.com"]  # once per job, from the store
    return queue, log


def middle(attributes: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """A CoA-Request's authorization: after the session's five attributes, before the
    Event-Timestamp."""
    assert attributes[-1][0] == c.EVENT_TIMESTAMP
    return attributes[5:-1]


def test_coa_acked_keeps_the_session_with_the_new_attributes() -> None:
    sessions = FakeSessions({1: session(1)})
    sender = FakeSender()
    queue, log = plan_job(sessions, sender, COA_AP)
    [sent] = sender.sent
    assert sent.code == c.Code.COA_REQUEST
    assert sent.fields["plan"] == "hot-desk" and sent.fields["reason"] == "plan_changed"
    types = [t for t, _ in sent.attributes]
    # The session first (as for a Disconnect-Request), Event-Timestamp last...
    assert types[:5] == [
        c.USER_NAME,
        c.ACCT_SESSION_ID,
        c.CALLING_STATION_ID,
        c.NAS_IDENTIFIER,
        c.NAS_IP_ADDRESS,
    ]
    # ...and between them what an Accept would carry now, without its Class.
    authorization = middle(sent.attributes)
    assert tuple(authorization) == policy.plan_reply(HOT_DESK, COA_AP, ANA, NOW, RULES, LOBBY)
    assert (c.TUNNEL_PRIVATE_GROUP_ID, b"\x0120") in authorization  # VLAN 20, tag 1
    assert (c.SESSION_TIMEOUT, (7200).to_bytes(4, "big")) in authorization
    assert (c.ACCT_INTERIM_INTERVAL, (300).to_bytes(4, "big")) in authorization
    assert c.CLASS not in dict(authorization)
    assert sessions.closed == []  # stays online, on the new plan
    assert queue.completed[3] == (
        "acked=0 nak=0 timeout=0 unsupported=0 error=0 "
        "coa_acked=1 coa_nak=0 coa_timeout=0 coa_error=0"
    )
    [done] = log.named("disconnect_job_done")
    assert (done["reason"], done["coa_acked"], done["acked"]) == ("plan_changed", 1, 0)


def test_the_nas_records_come_from_the_database_not_the_directory() -> None:
    """A NAS just marked --coa (the job came with that change): CoA, though the
    directory does not know yet."""
    sender = FakeSender()
    plan_job(FakeSessions({1: session(1)}), sender, COA_AP, stale=(replace(COA_AP, coa=False),))
    assert [s.code for s in sender.sent] == [c.Code.COA_REQUEST]


def test_the_nas_vendor_picks_the_attributes() -> None:
    sender = FakeSender()
    plan_job(FakeSessions({1: session(1, client="mk1")}), sender, MIKROTIK_AP)
    [sent] = sender.sent
    authorization = middle(sent.attributes)
    assert set(HOT_DESK.reply_for("mikrotik")) <= set(authorization)
    assert HOT_DESK.reply_for("mikrotik") != HOT_DESK.reply_for("generic")
    assert (c.VENDOR_SPECIFIC, b"\x00\x00:\x8c\x08\x0e2000k/10000k") in authorization


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
    assert (sent.code, sent.fields["fallback"]) == (c.Code.DISCONNECT_REQUEST, "wrong_location")


def test_a_plan_outside_its_hours_now_disconnects() -> None:
    # 08:00 UTC on a Friday is 09:00 in Madrid: outside the lobby's weekend hours.
    weekends = compile_plan(replace(HOT_DESK.definition, hours="Sat-Sun 08:00-20:00"))
    sender = FakeSender()
    plan_job(FakeSessions({1: session(1)}), sender, COA_AP, plan=weekends)
    [sent] = sender.sent
    assert (sent.code, sent.fields["fallback"]) == (c.Code.DISCONNECT_REQUEST, "outside_hours")


def test_a_nas_without_a_dynauth_port_is_unsupported() -> None:
    sender = FakeSender()
    queue, log = plan_job(FakeSessions({1: session(1)}), sender, replace(COA_AP, coa_port=None))
    assert sender.sent == []
    [unsupported] = log.named("disconnect_unsupported")
    assert (unsupported["detail"], unsupported["plan"]) == ("no_coa_port", "hot-desk")
    assert parse_result(queue.completed[3])["unsupported"] == 1


def test_change_for_decisions() -> None:
    def because(found: MemberPlan | None, client: Client = COA_AP) -> str | None:
        return change_for(found, client, LOBBY, NOW, RULES).disconnect_because

    assert because(None) == NO_PLAN
    assert because(MemberPlan(ANA, None)) == NO_PLAN
    assert because(MemberPlan(ANA, HOT_DESK), PLAIN_AP) == COA_OFF
    nowhere = replace(HOT_DESK, location_ids=frozenset())
    assert because(MemberPlan(ANA, nowhere)) == "wrong_location"
    # A NAS with no location is outside a plan limited to some (the judge's rule).
    limited = replace(HOT_DESK, location_ids=frozenset({1}))
    assert because(MemberPlan(ANA, limited), replace(COA_AP, location_id=None)) == (
        "wrong_location"
    )
    assert because(MemberPlan(replace(ANA, active=False), HOT_DESK)) == NOT_ALLOWED
    assert because(MemberPlan(replace(ANA, valid_until=NOW - 1), HOT_DESK)) == NOT_ALLOWED
    assert because(MemberPlan(ANA, EMPTY_DEFAULT)) == NO_ATTRIBUTES
    assert because(MemberPlan(ANA, limited)) is None


def test_member_validity_caps_the_coa_session_timeout() -> None:
    ending = replace(ANA, valid_until=NOW + 600)
    change = change_for(MemberPlan(ending, HOT_DESK), COA_AP, LOBBY, NOW, RULES)
    assert (c.SESSION_TIMEOUT, (600).to_bytes(4, "big")) in change.attributes


def test_sets_anything() -> None:
    assert sets_anything(HOT_DESK, "generic")
    assert not sets_anything(EMPTY_DEFAULT, "generic")
    only_timeout = compile_plan(PlanDefinition(id=3, name="day-pass", session_timeout=3600))
    assert sets_anything(only_timeout, "generic")
    only_interim = compile_plan(PlanDefinition(id=4, name="chatty", interim_interval=120))
    assert sets_anything(only_interim, "generic")
