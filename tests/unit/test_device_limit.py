"""The device limit and the session attributes of every accept, in the pure judge."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radius_server.protocol import codes as c
from radius_server.rules import policy
from radius_server.rules.accounting import class_member_id
from radius_server.rules.decision import Outcome, Reason
from radius_server.rules.directory import Member
from radius_server.rules.policy import Tally
from radius_server.rules.throttle import Block, Scope
from radius_server.runtime.snapshot_file import SnapshotFile
from radius_server.runtime.sync import member_from_record
from radius_server.store.records import CustomerRecord

NOW = 1_800_000_000.0
PIN = b"24680"
ANA = Member(
    id=7,
    email="ana@example.com",
    pin=PIN,
    active=True,
    wifi_access=True,
    valid_from=None,
    valid_until=None,
    pin_changed_at=NOW - 100,
)
RULES = policy.session_rules(device_limit=3, acct_interim_interval=600)
PHONE, LAPTOP, TABLET, WATCH = (f"02:00:00:00:00:0{i}" for i in range(1, 5))
TOKEN = bytes(range(8))


def judge(
    member: Member | None = ANA,
    pin: bytes = PIN,
    *,
    station: str | None = WATCH,
    online: tuple[str, ...] = (PHONE, LAPTOP, TABLET),
    rules: policy.SessionRules | None = RULES,
    block: Block | None = None,
) -> tuple[policy.Decision, Tally]:
    decision, tally, _ = policy.judge(
        member,
        policy.pap_check(pin),
        NOW,
        block,
        rules=rules,
        station=station,
        online=frozenset(online),
        token=TOKEN,
    )
    return decision, tally


def test_a_new_device_past_the_limit_is_rejected_and_told_why() -> None:
    decision, tally = judge()
    assert (decision.outcome, decision.reason) == (Outcome.REJECT, Reason.DEVICE_LIMIT)
    assert decision.attributes == ((c.REPLY_MESSAGE, b"Device limit reached: 3 devices online"),)
    assert decision.member_email == "ana@example.com"
    assert decision.detail == "online=3 limit=3"
    # The PIN was right: no guess to count, and the device did not get on.
    assert tally is Tally.NOTHING


def test_below_the_limit_a_new_device_gets_on() -> None:
    decision, tally = judge(online=(PHONE, LAPTOP))
    assert (decision.outcome, tally) == (Outcome.ACCEPT, Tally.SUCCESS)


@pytest.mark.parametrize("station", [PHONE, LAPTOP, TABLET])
def test_a_device_already_online_signs_in_again_at_the_limit(station: str) -> None:
    """Re-authentication, or roaming to another access point: the same station counts once."""
    decision, _ = judge(station=station)
    assert decision.outcome is Outcome.ACCEPT


def test_limit_zero_is_unlimited() -> None:
    many = tuple(f"02:00:00:00:01:{i:02x}" for i in range(50))
    assert judge(rules=policy.session_rules(0, 600), online=many)[0].outcome is Outcome.ACCEPT
    unlimited = replace(ANA, device_limit=0)
    assert judge(unlimited, online=many)[0].outcome is Outcome.ACCEPT


@pytest.mark.parametrize(
    ("own", "online", "outcome"),
    [
        (1, (PHONE,), Outcome.REJECT),  # lower than the server's 3
        (5, (PHONE, LAPTOP, TABLET), Outcome.ACCEPT),  # higher
        (5, (PHONE, LAPTOP, TABLET, "02:00:00:00:00:05", "02:00:00:00:00:06"), Outcome.REJECT),
        (None, (PHONE, LAPTOP, TABLET), Outcome.REJECT),  # NULL: the server's default
    ],
)
def test_a_members_own_limit_overrides_the_setting(
    own: int | None, online: tuple[str, ...], outcome: Outcome
) -> None:
    decision, _ = judge(replace(ANA, device_limit=own), online=online)
    assert decision.outcome is outcome
    if outcome is Outcome.REJECT:
        assert decision.reason is Reason.DEVICE_LIMIT


def test_one_device_online_says_device_not_devices() -> None:
    decision, _ = judge(replace(ANA, device_limit=1), online=(PHONE,))
    assert decision.attributes == ((c.REPLY_MESSAGE, b"Device limit reached: 1 device online"),)


def test_a_request_without_station_is_a_new_device() -> None:
    assert judge(station=None)[0].reason is Reason.DEVICE_LIMIT
    assert judge(station=None, online=(PHONE, LAPTOP))[0].outcome is Outcome.ACCEPT


def test_a_limit_lowered_below_whats_online_keeps_those_devices_on() -> None:
    """Lowering the limit disconnects no one here; their sign-ins again are accepted."""
    lowered = replace(ANA, device_limit=1)
    assert judge(lowered, station=LAPTOP)[0].outcome is Outcome.ACCEPT
    decision, _ = judge(lowered, station=WATCH)
    assert decision.detail == "online=3 limit=1"


def test_the_limit_comes_after_the_pin_and_the_member_rules() -> None:
    """A wrong PIN is a wrong PIN (counted); a disabled member hears inactive; a lock first."""
    wrong, tally = judge(pin=b"11111")
    assert (wrong.reason, tally) == (Reason.WRONG_PIN, Tally.FAILURE)
    assert wrong.attributes == ((c.REPLY_MESSAGE, policy.REJECT_MESSAGE),)
    assert judge(replace(ANA, active=False))[0].reason is Reason.INACTIVE
    assert judge(replace(ANA, valid_until=NOW - 1))[0].reason is Reason.EXPIRED
    assert judge(None)[0].reason is Reason.UNKNOWN_USER
    lock = Block(locked_out=True, scope=Scope.USER, key="ana@example.com", until=NOW + 60)
    assert judge(block=lock)[0].reason is Reason.LOCKED_OUT


def test_without_session_rules_nothing_is_limited() -> None:
    assert judge(rules=None)[0].outcome is Outcome.ACCEPT


def test_every_accept_carries_interim_interval_and_a_class_naming_the_member() -> None:
    decision, _ = judge(online=())
    values = dict(decision.attributes)
    assert values[c.ACCT_INTERIM_INTERVAL] == struct.pack("!I", 600)
    assert class_member_id(values[c.CLASS]) == ANA.id
    assert TOKEN.hex().encode() in values[c.CLASS]
    assert c.SESSION_TIMEOUT not in values


def test_session_timeout_stays_beside_the_session_attributes() -> None:
    member = replace(ANA, valid_until=NOW + 3600)
    decision, _ = judge(member, online=())
    assert [t for t, _ in decision.attributes] == [
        c.SESSION_TIMEOUT,
        c.ACCT_INTERIM_INTERVAL,
        c.CLASS,
    ]
    assert dict(decision.attributes)[c.SESSION_TIMEOUT] == struct.pack("!I", 3600)


def test_the_token_makes_each_sign_ins_class_different() -> None:
    classes = {
        dict(policy.judge(ANA, policy.pap_check(PIN), NOW, rules=RULES, token=token)[0].attributes)[
            c.CLASS
        ]
        for token in (b"\x00" * 8, b"\x01" * 8)
    }
    assert len(classes) == 2


# -- the member's own limit on its way to the judge ----------------------------------------


@pytest.mark.parametrize("own", [None, 0, 5])
def test_the_members_limit_survives_sync_and_the_snapshot_file(
    tmp_path: Path, own: int | None
) -> None:
    when = datetime(2027, 1, 1, tzinfo=UTC)
    record = CustomerRecord(
        id=7,
        email="ana@example.com",
        full_name="Ana",
        pin="24680",
        active=True,
        wifi_access=True,
        valid_from=None,
        valid_until=None,
        created_at=when,
        updated_at=when,
        pin_changed_at=when,
        device_limit=own,
    )
    member = member_from_record(record)
    assert member.device_limit == own
    snapshot = SnapshotFile(tmp_path / "view.json")
    snapshot.save([member], [])
    saved = snapshot.load()
    assert saved is not None and saved.members == [member]


def test_a_snapshot_from_before_device_limits_means_the_default(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    old = {"id": 7, "email": "ana@example.com", "pin": "24680", "active": True}
    old |= {"wifi_access": True, "valid_from": None, "valid_until": None}
    old |= {"pin_changed_at": None, "previous_pin": None}
    path.write_text(json.dumps({"format": 1, "saved_at": NOW, "members": [old], "clients": []}))
    saved = SnapshotFile(path).load()
    assert saved is not None and saved.members[0].device_limit is None
