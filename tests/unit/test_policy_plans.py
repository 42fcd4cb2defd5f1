"""``judge`` with access plans: location, hours, Session-Timeout, device limit, interim,
and ``plan_reply`` (what a CoA-Request would carry)."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import datetime
from ipaddress import ip_network
from zoneinfo import ZoneInfo

import pytest

from radius_server.protocol import codes as c
from radius_server.rules import policy
from radius_server.rules.decision import Outcome, Reason
from radius_server.rules.directory import Client, Member
from radius_server.rules.plans import Location, PlanDefinition, compile_plan

MADRID = Location(1, "madrid", "Europe/Madrid")
LISBON = Location(2, "lisbon", "Europe/Lisbon")
# Wednesday 2026-12-02 10:00 in Madrid (09:00 in Lisbon).
NOW = datetime.fromisoformat("2026-12-02T10:00:00+01:00").timestamp()
PIN = b"24680"
MEMBER = Member(1, "ana@example.com", PIN, True, True, None, None, None)
AP_MADRID = Client(
    1, "ap-mad", ip_network("192.0.2.1/32"), b"s", True, vendor="mikrotik", location_id=1
)
AP_LISBON = Client(2, "ap-lis", ip_network("192.0.2.2/32"), b"s", True, location_id=2)
AP_NOWHERE = Client(3, "ap-x", ip_network("192.0.2.3/32"), b"s", True)
RULES = policy.session_rules(3, 600, ZoneInfo("Europe/Madrid"))
TOKEN = b"\x01" * 8

DESK = compile_plan(
    PlanDefinition(
        2,
        "desk",
        vlan=20,
        down_kbps=10000,
        up_kbps=2000,
        hours="Mon-Fri 08:00-19:00",
        location_ids=frozenset({1}),
    )
)
DEFAULT = compile_plan(PlanDefinition(1, "default", is_default=True))


def judge(member=MEMBER, plan=DESK, client=AP_MADRID, location=MADRID, now=NOW, pin=PIN, **kw):  # type: ignore[no-untyped-def]
    return policy.judge(
        member,
        policy.pap_check(pin),
        now,
        rules=RULES,
        token=TOKEN,
        plan=plan,
        client=client,
        location=location,
        **kw,
    )


def timeout(attributes: tuple[tuple[int, bytes], ...]) -> int | None:
    found = [v for t, v in attributes if t == c.SESSION_TIMEOUT]
    return struct.unpack("!I", found[0])[0] if found else None


def test_accept_carries_the_plans_reply_for_the_vendor_and_ends_with_the_window() -> None:
    decision, tally, _ = judge()
    assert (decision.outcome, decision.reason, decision.plan) == (Outcome.ACCEPT, Reason.OK, "desk")
    assert tally is policy.Tally.SUCCESS
    assert decision.attributes[: len(DESK.reply_for("mikrotik"))] == DESK.reply_for("mikrotik")
    # 10:00 -> 19:00 Madrid.
    assert timeout(decision.attributes) == 9 * 3600
    assert RULES.interim in decision.attributes
    assert decision.attributes[-1][0] == c.CLASS


@pytest.mark.parametrize(
    ("client", "location", "reason"),
    [
        (AP_LISBON, LISBON, Reason.WRONG_LOCATION),
        (AP_NOWHERE, None, Reason.WRONG_LOCATION),
        (None, None, Reason.WRONG_LOCATION),
    ],
)
def test_plan_not_valid_at_the_nas(client, location, reason) -> None:  # type: ignore[no-untyped-def]
    decision, tally, proof = judge(client=client, location=location)
    assert (decision.outcome, decision.reason, tally, proof) == (
        Outcome.REJECT,
        reason,
        policy.Tally.NOTHING,
        None,
    )
    assert decision.attributes == ((c.REPLY_MESSAGE, b"Your plan does not include this location."),)
    assert decision.plan == "desk"


def test_outside_hours_tells_which_rule() -> None:
    evening = NOW + 10 * 3600  # 20:00 in Madrid
    decision, tally, _ = judge(now=evening)
    assert (decision.reason, tally) == (Reason.OUTSIDE_HOURS, policy.Tally.NOTHING)
    assert decision.attributes == (
        (c.REPLY_MESSAGE, b"Outside your plan's access hours (Mon-Fri 08:00-19:00)."),
    )


def test_hours_are_read_in_the_locations_zone_else_the_spaces() -> None:
    anywhere = replace(DESK, location_ids=None)
    # 07:30 in Lisbon is 08:30 in Madrid: outside in Lisbon, inside in the space's zone.
    early = datetime.fromisoformat("2026-12-02T07:30:00+00:00").timestamp()
    assert judge(plan=anywhere, client=AP_LISBON, location=LISBON, now=early)[0].reason is (
        Reason.OUTSIDE_HOURS
    )
    assert judge(plan=anywhere, client=AP_NOWHERE, location=None, now=early)[0].reason is Reason.OK


def test_plan_rules_come_after_the_pin_and_the_member_rules() -> None:
    evening = NOW + 10 * 3600
    wrong, tally, _ = judge(now=evening, pin=b"11111")
    assert (wrong.reason, tally, wrong.plan) == (Reason.WRONG_PIN, policy.Tally.FAILURE, None)
    assert wrong.attributes == ((c.REPLY_MESSAGE, policy.REJECT_MESSAGE),)
    unknown, _, _ = judge(member=None, now=evening)
    assert (unknown.reason, unknown.attributes) == (
        Reason.UNKNOWN_USER,
        ((c.REPLY_MESSAGE, policy.REJECT_MESSAGE),),
    )
    inactive, _, _ = judge(member=replace(MEMBER, active=False), now=evening)
    assert inactive.reason is Reason.INACTIVE


@pytest.mark.parametrize(
    ("valid_until", "session_timeout", "expected"),
    [
        (None, None, 9 * 3600),  # the hours window
        (NOW + 3600, None, 3600),  # the validity window ends first
        (None, 1800, 1800),  # the plan's maximum
        (NOW + 100_000, 7200, 7200),
        (NOW + 600, 7200, 600),
    ],
)
def test_session_timeout_is_the_first_end(valid_until, session_timeout, expected) -> None:  # type: ignore[no-untyped-def]
    plan = replace(DESK, session_timeout=session_timeout)
    decision, _, _ = judge(member=replace(MEMBER, valid_until=valid_until), plan=plan)
    assert timeout(decision.attributes) == expected


def test_plan_session_timeout_without_hours() -> None:
    plan = compile_plan(PlanDefinition(3, "pass", session_timeout=3600))
    decision, _, _ = judge(plan=plan)
    assert timeout(decision.attributes) == 3600


def test_default_plan_keeps_the_old_accept() -> None:
    with_plan, _, _ = judge(plan=DEFAULT)
    without, _, _ = judge(plan=None)
    assert (
        with_plan.attributes
        == without.attributes
        == (
            RULES.interim,
            (c.CLASS, with_plan.attributes[-1][1]),
        )
    )
    assert (with_plan.plan, without.plan) == ("default", None)


def test_interim_plans_over_servers() -> None:
    plan = compile_plan(PlanDefinition(3, "p", interim_interval=300))
    decision, _, _ = judge(plan=plan)
    interims = [v for t, v in decision.attributes if t == c.ACCT_INTERIM_INTERVAL]
    assert interims == [struct.pack("!I", 300)]


@pytest.mark.parametrize(
    ("member_limit", "plan_limit", "online", "reason"),
    [
        (None, None, 3, Reason.DEVICE_LIMIT),  # the server's 3
        (None, 5, 3, Reason.OK),  # the plan's 5
        (None, 1, 1, Reason.DEVICE_LIMIT),
        (4, 1, 3, Reason.OK),  # the member's own wins
        (None, 0, 10, Reason.OK),  # the plan's 0: unlimited
    ],
)
def test_device_limit_member_then_plan_then_server(
    member_limit, plan_limit, online, reason
) -> None:  # type: ignore[no-untyped-def]
    plan = compile_plan(PlanDefinition(3, "p", device_limit=plan_limit))
    stations = [f"02-00-00-00-00-{i:02X}" for i in range(online)]
    decision, _, _ = judge(
        member=replace(MEMBER, device_limit=member_limit),
        plan=plan,
        station="02-00-00-00-01-00",
        online=stations,
    )
    assert decision.reason is reason
    assert decision.plan == "p"


def test_plan_reply_for_coa() -> None:
    attributes = policy.plan_reply(DESK, AP_MADRID, MEMBER, NOW, RULES, MADRID)
    assert attributes is not None
    assert attributes[:4] == DESK.reply_for("mikrotik")[:4]
    assert timeout(attributes) == 9 * 3600
    assert all(t != c.CLASS for t, _ in attributes)
    # Refused now (place, hours, member status): None, so the sender disconnects.
    assert policy.plan_reply(DESK, AP_LISBON, MEMBER, NOW, RULES, LISBON) is None
    assert policy.plan_reply(DESK, AP_MADRID, MEMBER, NOW + 10 * 3600, RULES, MADRID) is None
    expired = replace(MEMBER, valid_until=NOW - 1)
    assert policy.plan_reply(DESK, AP_MADRID, expired, NOW, RULES, MADRID) is None
    assert policy.plan_reply(None, AP_MADRID, MEMBER, NOW, RULES) == (RULES.interim,)


def test_a_location_zone_unknown_here_falls_back_to_the_spaces() -> None:
    odd = Location(1, "madrid", "Mars/Olympus_Mons")
    decision, _, _ = judge(location=odd)
    assert decision.reason is Reason.OK
    assert timeout(decision.attributes) == 9 * 3600  # read in Europe/Madrid (RULES.zone)
