"""Table-driven decisions of the pure policy: member rules and ``judge``."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from radius_server.protocol import codes as c
from radius_server.rules import policy
from radius_server.rules.decision import Outcome, Reason
from radius_server.rules.directory import Member
from radius_server.rules.throttle import Block, Scope

NOW = 1_800_000_000.0
BASE = Member(
    id=1,
    email="ana@example.com",
    pin=b"24680",
    active=True,
    wifi_access=True,
    valid_from=None,
    valid_until=None,
    pin_changed_at=NOW - 100,
)


@pytest.mark.parametrize(
    ("member", "offered", "outcome", "reason"),
    [
        (BASE, b"24680", Outcome.ACCEPT, Reason.OK),
        (BASE, b"24681", Outcome.REJECT, Reason.WRONG_PIN),
        (None, b"24680", Outcome.REJECT, Reason.UNKNOWN_USER),
        (replace(BASE, active=False), b"24680", Outcome.REJECT, Reason.INACTIVE),
        (replace(BASE, active=False), b"11111", Outcome.REJECT, Reason.WRONG_PIN),
        (replace(BASE, wifi_access=False), b"24680", Outcome.REJECT, Reason.NO_WIFI_ACCESS),
        (replace(BASE, valid_from=NOW + 10), b"24680", Outcome.REJECT, Reason.NOT_YET_VALID),
        (replace(BASE, valid_until=NOW), b"24680", Outcome.REJECT, Reason.EXPIRED),
        (
            replace(BASE, valid_from=NOW - 10, valid_until=NOW + 10),
            b"24680",
            Outcome.ACCEPT,
            Reason.OK,
        ),
    ],
)
def test_decide(member: Member | None, offered: bytes, outcome: Outcome, reason: Reason) -> None:
    """Outcome and reason for each member state; the PIN is checked first."""
    decision = policy.decide(member, policy.pap_check(offered), NOW)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    if outcome is Outcome.REJECT:
        assert decision.attributes == ((c.REPLY_MESSAGE, policy.REJECT_MESSAGE),)


STALE = replace(BASE, previous_pin=b"13579", pin_changed_at=NOW - 86400)
LOCK = Block(locked_out=True, scope=Scope.USER, key="ana@example.com", until=NOW + 60)


@pytest.mark.parametrize(
    ("member", "offered", "block", "reason", "tally", "detail"),
    [
        (BASE, b"24680", None, Reason.OK, policy.Tally.SUCCESS, None),
        (BASE, b"11111", None, Reason.WRONG_PIN, policy.Tally.FAILURE, None),
        (None, b"24680", None, Reason.UNKNOWN_USER, policy.Tally.FAILURE, None),
        (replace(BASE, active=False), b"24680", None, Reason.INACTIVE, policy.Tally.NOTHING, None),
        # The gate answers before the PIN is looked at: even the right one is refused.
        (BASE, b"24680", LOCK, Reason.LOCKED_OUT, policy.Tally.NOTHING, "user_limit"),
        (
            BASE,
            b"24680",
            replace(LOCK, locked_out=False),
            Reason.THROTTLED,
            policy.Tally.NOTHING,
            "user_limit",
        ),
        (STALE, b"13579", None, Reason.STALE_PIN, policy.Tally.NOTHING, None),
        (STALE, b"24680", None, Reason.OK, policy.Tally.SUCCESS, None),
        # Outside the window the previous PIN is just a wrong one.
        (
            replace(STALE, pin_changed_at=NOW - 40 * 86400),
            b"13579",
            None,
            Reason.WRONG_PIN,
            policy.Tally.FAILURE,
            None,
        ),
    ],
)
def test_judge(  # type: ignore[no-untyped-def]
    member, offered, block, reason, tally, detail
) -> None:
    """One pure judgement: the gate, the member rules, the stale PIN, and what to count."""
    check = policy.pap_check(offered)
    decision, counted, proof = policy.judge(member, check, NOW, block, 30 * 86400.0)
    assert (decision.reason, counted, decision.detail) == (reason, tally, detail)
    # The check's proof comes back with an accept, never with a reject.
    assert (proof is not None) == (decision.outcome is Outcome.ACCEPT)
    if member is not None:
        assert decision.member_email == member.email


def test_session_timeout_ends_with_validity() -> None:
    """An accept carries Session-Timeout up to valid-until."""
    member = replace(BASE, valid_until=NOW + 3600)
    decision = policy.decide(member, policy.pap_check(b"24680"), NOW)
    assert (c.SESSION_TIMEOUT, struct.pack("!I", 3600)) in decision.attributes


def test_one_reject_message_for_every_reason() -> None:
    """The NAS learns nothing about why."""
    messages = {
        policy.decide(m, policy.pap_check(p), NOW).attributes
        for m, p in [(None, b"1"), (BASE, b"2"), (replace(BASE, active=False), b"24680")]
    }
    assert len(messages) == 1
