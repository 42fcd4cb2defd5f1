"""Table-driven decisions: the pure policy, then the engine's handling of odd requests."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from radius_server import policy
from radius_server.decision import Outcome, Reason
from radius_server.directory import Member
from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request, encode_status_server
from radius_server.throttle import Block, Scope
from tests.unit.engine_harness import NAS_ADDRESS, SECRET, Harness

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


def _line(h: Harness) -> dict:
    return [e for e in h.log.events if e["event"] == "access"][-1]


def test_status_server_accepted() -> None:
    """RFC 5997: Access-Accept, reason status."""
    h = Harness()
    packet = encode_status_server(SECRET, identifier=1).packet
    reply = h.engine.handle_auth(packet, (NAS_ADDRESS, 1000))
    assert reply is not None and reply[0][0] == c.Code.ACCESS_ACCEPT
    assert _line(h)["reason"] == "status"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p[:2] + b"\xff\xff" + p[4:], "malformed"),
        (lambda p: bytes([c.Code.ACCESS_ACCEPT]) + p[1:], "unsupported_code"),
        (lambda p: p[:-1] + bytes([p[-1] ^ 1]), "bad_authenticator"),
    ],
)
def test_untrustworthy_requests_are_dropped(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Dropped, not rejected: the NAS retries or fails over."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    packet = encode_request(
        SECRET, identifier=1, user_name="ana@example.com", password=b"24680"
    ).packet
    assert h.engine.handle_auth(mutate(packet), (NAS_ADDRESS, 1000)) is None
    assert _line(h)["reason"] == reason and _line(h)["outcome"] == "drop"


def test_missing_message_authenticator_dropped() -> None:
    """BlastRADIUS default."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    packet = encode_request(
        SECRET,
        identifier=1,
        user_name="ana@example.com",
        password=b"24680",
        message_authenticator=False,
    ).packet
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 1000)) is None
    assert _line(h)["reason"] == "missing_message_authenticator"


def test_unknown_client_dropped_and_logged_once() -> None:
    """A flood from an unknown address costs one log line per interval."""
    h = Harness()
    packet = encode_request(
        SECRET, identifier=1, user_name="a@example.com", password=b"24680"
    ).packet
    for port in range(100):
        assert h.engine.handle_auth(packet, ("198.51.100.7", port)) is None
    assert len(h.log.named("unknown_client")) == 1


def test_storage_never_loaded_drops() -> None:
    """Before the first directory load, requests are dropped, not rejected."""
    h = Harness()
    h.directory.ready = False
    packet = encode_request(
        SECRET, identifier=1, user_name="a@example.com", password=b"24680"
    ).packet
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 1)) is None
    assert _line(h)["reason"] == "storage_unavailable"


def test_non_digit_password_is_bad_pin_format() -> None:
    """A password that is not 5 digits never matches and is not counted as a guess."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    code, line = h.send("ana@example.com", "2468O")
    assert code == c.Code.ACCESS_REJECT and line["reason"] == "bad_pin_format"
    assert "ana@example.com" not in h.guard.throttle.users


def test_log_line_never_holds_pin_or_secret() -> None:
    """The canonical line has the fields operators need and nothing secret."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    code, line = h.send(" ANA@example.com ", "24680", "AA-BB-CC-DD-EE-FF")
    assert code == c.Code.ACCESS_ACCEPT
    assert {
        "outcome",
        "reason",
        "method",
        "user",
        "client",
        "client_address",
        "calling_station",
        "duration_ms",
        "request_id",
    } <= line.keys()
    assert line["user"] == "ana@example.com"
    text = str(h.log.events)
    assert "24680" not in text and SECRET.decode() not in text


def test_a_failing_method_costs_one_request_not_the_server() -> None:
    """A handler that raises: the request is dropped with reason internal_error, no crash."""
    from radius_server.methods import MethodResult

    class Broken:
        def handle(self, *_args: object) -> MethodResult:
            raise RuntimeError("boom")

    h = Harness()
    h.engine.methods["eap"] = Broken()  # type: ignore[assignment]
    from radius_server.protocol.client import encode_access_request

    packet = encode_access_request(
        SECRET,
        identifier=3,
        attributes=[(c.USER_NAME, b"a@example.com"), (c.EAP_MESSAGE, b"\x02\x01\x00\x06\x01a")],
    ).packet
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 7)) is None
    line = _line(h)
    assert line["reason"] == "internal_error" and line["detail"] == "RuntimeError"
    # The retransmission is decided again rather than silently dropped.
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 7)) is None
    assert len(h.log.named("access")) == 2


def test_status_server_on_the_accounting_port() -> None:
    """RFC 5997 allows Status-Server on either port; the reply verifies."""
    from radius_server.protocol.client import verify_reply

    h = Harness()
    request = encode_status_server(SECRET, identifier=4)
    reply = h.engine.handle_acct(request.packet, (NAS_ADDRESS, 1001))
    assert reply is not None
    assert verify_reply(
        reply[0],
        request.authenticator,
        SECRET,
        request_code=c.Code.STATUS_SERVER,
        require_message_authenticator=False,
    )
