"""Compiling plans (rules/plans.py): validation naming the field, golden per-vendor replies."""

from __future__ import annotations

from datetime import UTC

import pytest

from radius_server.rules.plans import (
    VENDORS,
    PlanDefinition,
    PlanError,
    compile_lenient,
    compile_plan,
)

# RFC 3580 3.31 VLAN 10, tag 1 (RFC 2868 3.1): Tunnel-Type = VLAN (13), Tunnel-Medium-Type
# = IEEE-802 (6), Tunnel-Private-Group-Id = "10" with its tag octet.
TUNNEL_10 = [
    (64, bytes.fromhex("01 00000d")),
    (65, bytes.fromhex("01 000006")),
    (81, b"\x0110"),
]
# WISPr (vendor 14122 = 0x372a), bit/s: Max-Down (8) 2 Mbit/s, Max-Up (7) 500 kbit/s.
WISPR = [
    (26, bytes.fromhex("0000372a 08 06 001e8480")),
    (26, bytes.fromhex("0000372a 07 06 0007a120")),
]
IDLE_600 = (28, bytes.fromhex("00000258"))
FILTER = (11, b"members")

EXPECTED = {
    "generic": [*TUNNEL_10, *WISPR],
    "unifi": [*TUNNEL_10, *WISPR],
    "ruckus": [*TUNNEL_10, *WISPR],
    "openwrt": [*TUNNEL_10, *WISPR],
    # MikroTik (14988 = 0x3a8c): Mikrotik-Wireless-VLANID (26) = 10, then
    # Mikrotik-Rate-Limit (8) = "500k/2000k" (rx/tx from the router: upload/download).
    "mikrotik": [
        *TUNNEL_10,
        (26, bytes.fromhex("00003a8c 1a 06 0000000a")),
        (26, bytes.fromhex("00003a8c 08 0c") + b"500k/2000k"),
    ],
    # Cisco WLC, Airespace (14179 = 0x3763), kbit/s: average contract down (7), up (13).
    "cisco": [
        *TUNNEL_10,
        (26, bytes.fromhex("00003763 07 06 000007d0")),
        (26, bytes.fromhex("00003763 0d 06 000001f4")),
    ],
    # No per-user rate attribute: only the VLAN (bandwidth is the policy's or role's).
    "meraki": [*TUNNEL_10],
    "aruba": [*TUNNEL_10],
}

DESK = PlanDefinition(
    7,
    "desk",
    vlan=10,
    down_kbps=2000,
    up_kbps=500,
    idle_timeout=600,
    interim_interval=300,
    session_timeout=3600,
    device_limit=2,
    hours="mon-fri 8:00-19:00",
    location_ids=frozenset({1}),
    reply_attributes=(("Filter-Id", "members"),),
)


@pytest.mark.parametrize("vendor", VENDORS)
def test_golden_reply_per_vendor(vendor: str) -> None:
    plan = compile_plan(DESK)
    assert list(plan.reply_for(vendor)) == [*EXPECTED[vendor], IDLE_600, FILTER]


def test_every_vendor_has_a_golden_case() -> None:
    assert set(EXPECTED) == set(VENDORS)


def test_compiled_fields() -> None:
    plan = compile_plan(DESK)
    assert plan.interim == (85, bytes.fromhex("0000012c"))
    assert (plan.session_timeout, plan.device_limit, plan.timed) == (3600, 2, True)
    assert str(plan.hours) == "Mon-Fri 08:00-19:00"
    assert plan.outside_hours_reply == (
        (18, b"Outside your plan's access hours (Mon-Fri 08:00-19:00)."),
    )
    assert plan.reply_for("no-such-vendor") == plan.reply_for("generic")


def test_an_empty_plan_sends_nothing_and_is_untimed() -> None:
    plan = compile_plan(PlanDefinition(1, "default", is_default=True))
    assert all(plan.reply_for(v) == () for v in VENDORS)
    assert (plan.interim, plan.hours, plan.timed) == (None, None, False)


def test_around_the_clock_hours_are_no_hours() -> None:
    plan = compile_plan(PlanDefinition(1, "always", hours="daily"))
    assert (plan.hours, plan.timed) == (None, False)


def test_one_direction_of_bandwidth() -> None:
    plan = compile_plan(PlanDefinition(1, "p", down_kbps=1000))
    assert plan.reply_for("generic") == ((26, bytes.fromhex("0000372a 08 06 000f4240")),)
    assert plan.reply_for("mikrotik") == ((26, bytes.fromhex("00003a8c 08 0a") + b"0k/1000k"),)
    assert plan.reply_for("cisco") == ((26, bytes.fromhex("00003763 07 06 000003e8")),)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # string, integer by number and by VALUE name, tagged (RFC 2868), VSAs.
        ((("Filter-Id", "staff"),), (11, b"staff")),
        ((("Framed-MTU", "1400"),), (12, bytes.fromhex("00000578"))),
        ((("Service-Type", "Framed-User"),), (6, bytes.fromhex("00000002"))),
        ((("Tunnel-Private-Group-Id:2", "guests"),), (81, b"\x02guests")),
        ((("Aruba-User-Role", "member"),), (26, bytes.fromhex("000039e7 01 08") + b"member")),
        (
            (("Cisco-AVPair", "ip:inacl#1=permit ip any any"),),
            (26, bytes.fromhex("00000009 01 1e") + b"ip:inacl#1=permit ip any any"),
        ),
        ((("Ruckus-User-Groups", "staff"),), (26, bytes.fromhex("000061dd 01 07") + b"staff")),
        ((("Airespace-ACL-Name", "guests"),), (26, bytes.fromhex("00003763 06 08") + b"guests")),
        ((("Airespace-QOS-Level", "Gold"),), (26, bytes.fromhex("00003763 02 06 00000001"))),
    ],
)
def test_extra_reply_attributes_golden(
    attributes: tuple[tuple[str, str], ...], expected: tuple[int, bytes]
) -> None:
    plan = compile_plan(PlanDefinition(1, "p", reply_attributes=attributes))
    assert all(plan.reply_for(v) == (expected,) for v in VENDORS)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"vlan": 0}, "vlan: 0"),
        ({"vlan": 4095}, "vlan: 4095"),
        ({"down_kbps": 0}, "down_kbps"),
        ({"up_kbps": 5_000_000}, "up_kbps"),
        ({"session_timeout": 10}, "session_timeout"),
        ({"idle_timeout": 100_000}, "idle_timeout"),
        ({"interim_interval": 30}, "interim_interval"),
        ({"device_limit": -1}, "device_limit"),
        ({"device_limit": 1001}, "device_limit"),
        ({"hours": "Mon 9-17"}, "hours: '9'"),
        ({"reply_attributes": (("No-Such-Thing", "1"),)}, "'No-Such-Thing' is not in the dict"),
        ({"reply_attributes": (("Framed-MTU", "big"),)}, "'Framed-MTU': 'big' is not a number"),
        ({"reply_attributes": (("Framed-MTU", "-1"),)}, "'Framed-MTU': '-1' is out of range"),
        ({"reply_attributes": (("Framed-MTU", "4294967296"),)}, "'Framed-MTU'"),
        ({"reply_attributes": (("Framed-IP-Address", "x"),)}, "'Framed-IP-Address'"),
        ({"reply_attributes": (("Filter-Id", "x" * 254),)}, "'Filter-Id'"),
        ({"reply_attributes": (("Filter-Id:1", "x"),)}, "'Filter-Id' takes no tag"),
        ({"reply_attributes": (("Tunnel-Type:40", "VLAN"),)}, "tag must be 0 to 31"),
        ({"reply_attributes": (("Tunnel-Type", "Nonsense"),)}, "'Tunnel-Type'"),
        ({"reply_attributes": (("Tunnel-Password", "x"),)}, "'Tunnel-Password' is encrypted"),
        ({"reply_attributes": (("User-Password", "x"),)}, "'User-Password' is encrypted"),
        ({"reply_attributes": (("Session-Timeout", "60"),)}, "'Session-Timeout' cannot be set"),
        ({"reply_attributes": (("Class", "x"),)}, "'Class' cannot be set"),
        ({"reply_attributes": (("Message-Authenticator", "x"),)}, "'Message-Authenticator'"),
        ({"reply_attributes": (("MS-MPPE-Send-Key", "x"),)}, "'MS-MPPE-Send-Key'"),
        ({"reply_attributes": (("EAP-Message", "x"),)}, "'EAP-Message' cannot be set"),
        ({"reply_attributes": (("State", "x"),)}, "'State' cannot be set"),
        ({"reply_attributes": (("Acct-Interim-Interval", "60"),)}, "'Acct-Interim-Interval'"),
        ({"reply_attributes": (("User-Name", "x"),)}, "'User-Name' cannot be set"),
    ],
)
def test_bad_plans_are_refused_naming_the_field(changes: dict[str, object], named: str) -> None:
    definition = PlanDefinition(1, "p", **changes)  # type: ignore[arg-type]
    with pytest.raises(PlanError) as caught:
        compile_plan(definition)
    assert named in str(caught.value)


def test_lenient_compile_leaves_out_what_is_bad_and_fails_closed_on_hours() -> None:
    definition = PlanDefinition(
        1,
        "p",
        vlan=5000,
        hours="Mon 25:00-26:00",
        reply_attributes=(("No-Such-Thing", "1"), ("Filter-Id", "members")),
    )
    plan, problems = compile_lenient(definition)
    assert len(problems) == 3
    assert plan.reply_for("generic") == (FILTER,)
    assert plan.hours is not None and str(plan.hours) == "never"
    assert not plan.hours.check(1_800_000_000.0, UTC).allowed
