"""The engine's answers to odd but authentic requests: empty User-Name, reject_delay and
duplicates, drops that must not be remembered, replies that would not fit, and a wrong
Message-Authenticator from a client that does not require one.
"""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.client import (
    encode_access_request,
    encode_request,
    encode_status_server,
    verify_reply,
)
from radius_server.protocol.packet import decode_request
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.rules.directory import Client
from radius_server.rules.methods import MethodResult
from radius_server.runtime.engine import Engine, EngineOptions
from tests.unit.engine_harness import NAS_ADDRESS, SECRET, Harness, proxy_states, tampered

EMAIL = "ana@example.com"
PIN = "24680"
WRONG = "13579"
SOURCE = (NAS_ADDRESS, 40000)


def _harness(**options: float) -> Harness:
    """A harness whose engine has these EngineOptions."""
    h = Harness()
    h.add_member(EMAIL, PIN)
    h.engine = Engine(
        h.directory,
        h.log,
        EngineOptions(**options),
        clock=h.clock,
        monotonic=h.clock,
        guard=h.guard,
    )
    return h


def _lines(h: Harness) -> list[dict]:
    return h.log.named("access")


def _lenient_client(h: Harness) -> None:
    """The NAS no longer has to send Message-Authenticator (old equipment)."""
    h.directory.clients.put(
        Client(1, "ap", ip_network(NAS_ADDRESS), SECRET, require_message_authenticator=False)
    )


# -- empty User-Name (hostapd copies an empty EAP identity) ---------------------------


def test_empty_user_name_gets_a_signed_reject() -> None:
    """RFC 2865 5: an invalid attribute length SHOULD get an Access-Reject, not silence."""
    h = _harness()
    request = encode_request(SECRET, identifier=9, user_name="", password=PIN.encode())
    answer = h.engine.handle_auth(request.packet, SOURCE)
    assert answer is not None
    reply, _delay = answer
    assert reply[0] == c.Code.ACCESS_REJECT
    assert verify_reply(reply, request.authenticator, SECRET, identifier=9)
    line = _lines(h)[-1]
    assert (line["outcome"], line["reason"]) == ("reject", "no_user_name")
    assert not h.guard.throttle.users  # nothing was guessed, nothing counted


def test_empty_user_name_still_needs_a_valid_message_authenticator() -> None:
    """Only an authenticated request earns the reject; a forged one is dropped as before."""
    h = _harness()
    request = encode_request(SECRET, identifier=9, user_name="", password=PIN.encode())
    assert h.engine.handle_auth(tampered(request.packet), SOURCE) is None
    assert _lines(h)[-1]["reason"] == "bad_authenticator"


def test_absent_user_name_is_still_dropped_as_malformed() -> None:
    """No User-Name at all is a different fault: dropped (detail no_user_name)."""
    h = _harness()
    packet = encode_access_request(SECRET, identifier=3, attributes=[(c.NAS_PORT, bytes(4))])
    assert h.engine.handle_auth(packet.packet, SOURCE) is None
    line = _lines(h)[-1]
    assert (line["reason"], line["detail"]) == ("malformed", "no_user_name")


# -- reject_delay and duplicates --------------------------------------------------------


def test_reject_is_delayed_and_accept_is_not() -> None:
    """reject_delay applies to Access-Reject only."""
    h = _harness(reject_delay=1.5)
    wrong = encode_request(SECRET, identifier=1, user_name=EMAIL, password=WRONG.encode())
    right = encode_request(SECRET, identifier=2, user_name=EMAIL, password=PIN.encode())
    rejected = h.engine.handle_auth(wrong.packet, SOURCE)
    accepted = h.engine.handle_auth(right.packet, SOURCE)
    assert rejected is not None and rejected[0][0] == c.Code.ACCESS_REJECT
    assert rejected[1] == 1.5
    assert accepted is not None and accepted[0][0] == c.Code.ACCESS_ACCEPT
    assert accepted[1] == 0.0


def test_duplicate_of_a_delayed_reject_is_not_answered_before_the_original() -> None:
    """Sending every guess twice must not skip the delay (issue: cache answered at once)."""
    h = _harness(reject_delay=2.0)
    request = encode_request(SECRET, identifier=1, user_name=EMAIL, password=WRONG.encode())
    original = h.engine.handle_auth(request.packet, SOURCE)
    assert original is not None
    reply, delay = original
    assert delay == 2.0
    # While the original waits, a duplicate gets nothing: the original's reply answers both.
    for step in (0.0, 1.0, 0.999):
        h.clock.advance(step)
        assert h.engine.handle_auth(request.packet, SOURCE) is None
    # From the original's send time on, the duplicate gets the same bytes at once.
    h.clock.advance(0.001)
    assert h.engine.handle_auth(request.packet, SOURCE) == (reply, 0.0)
    assert len(_lines(h)) == 1  # one decision, one failure counted
    pending = [e for e in h.log.named("retransmission") if not e["answered"]]
    assert len(pending) == 3


def test_duplicate_is_remembered_for_the_cache_window_after_a_long_delay() -> None:
    """A delay longer than the cache window must not turn the duplicate into a new guess."""
    h = _harness(reject_delay=10.0, reply_cache_seconds=5.0)
    request = encode_request(
        SECRET, identifier=1, user_name=EMAIL, password=WRONG.encode(), method="chap"
    )
    original = h.engine.handle_auth(request.packet, SOURCE)
    assert original is not None
    h.clock.advance(14.9)
    assert h.engine.handle_auth(request.packet, SOURCE) == (original[0], 0.0)
    assert len(_lines(h)) == 1


# -- drops are decided afresh ----------------------------------------------------------


def test_a_dropped_request_is_decided_afresh_when_retransmitted() -> None:
    """storage_unavailable: once the directory loads, the NAS's retransmission is answered."""
    h = _harness()
    h.directory.ready = False
    request = encode_request(SECRET, identifier=1, user_name=EMAIL, password=PIN.encode())
    assert h.engine.handle_auth(request.packet, SOURCE) is None
    assert _lines(h)[-1]["reason"] == "storage_unavailable"
    h.directory.ready = True
    answer = h.engine.handle_auth(request.packet, SOURCE)
    assert answer is not None and answer[0][0] == c.Code.ACCESS_ACCEPT
    assert [line["reason"] for line in _lines(h)] == ["storage_unavailable", "ok"]


# -- replies that would not fit beside the Proxy-State ----------------------------------


def _filled(build, slack: int):  # type: ignore[no-untyped-def]
    """``build(attributes)`` with Proxy-States that leave ``slack`` octets below 4096."""
    base = len(build([]).packet)
    states = proxy_states(c.MAX_PACKET_LENGTH - slack - base)
    request = build([(c.PROXY_STATE, s) for s in states])
    assert len(request.packet) == c.MAX_PACKET_LENGTH - slack
    return request, states


@pytest.mark.parametrize("slack", [0, 2, 5, 8, 20, 60, 300, 2000, 4000])
@pytest.mark.parametrize("ma", [True, False], ids=["ma", "no-ma"])
@pytest.mark.parametrize(
    ("user", "pin"),
    [(EMAIL, PIN), (EMAIL, WRONG), (EMAIL, "bad"), ("", PIN)],
    ids=["right", "wrong", "format", "empty-user-name"],
)
def test_no_proxy_state_size_makes_an_internal_error(
    slack: int, ma: bool, user: str, pin: str
) -> None:
    """Proxy-State must be echoed (RFC 2865 5.33): whatever its size, no internal_error."""
    h = _harness()
    _lenient_client(h)
    request, states = _filled(
        lambda attributes: encode_request(
            SECRET,
            identifier=1,
            user_name=user,
            password=pin.encode(),
            attributes=attributes,
            message_authenticator=ma,
        ),
        slack,
    )
    answer = h.engine.handle_auth(request.packet, SOURCE)
    line = _lines(h)[-1]
    assert line["reason"] != "internal_error"
    if answer is None:
        assert line["reason"] == "reply_too_large"
    else:
        assert verify_reply(answer[0], request.authenticator, SECRET)
        assert decode_request(answer[0]).proxy_states == tuple(states)


@pytest.mark.parametrize("user", [b"", EMAIL.encode()], ids=["empty-user-name", "no-password"])
def test_no_room_even_for_a_bare_reject_is_a_drop(user: bytes) -> None:
    """No Message-Authenticator, no credentials, the rest Proxy-State: the reply cannot fit."""
    h = _harness()
    _lenient_client(h)
    states = proxy_states(c.MAX_PACKET_LENGTH - c.HEADER_LENGTH - 2 - len(user))
    body = bytes((c.USER_NAME, 2 + len(user))) + user
    body += b"".join(bytes((c.PROXY_STATE, 2 + len(s))) + s for s in states)
    packet = bytes((c.Code.ACCESS_REQUEST, 1, 0x10, 0x00)) + bytes(range(16)) + body
    assert len(packet) == c.MAX_PACKET_LENGTH
    assert h.engine.handle_auth(packet, SOURCE) is None
    line = _lines(h)[-1]
    assert (line["outcome"], line["reason"]) == ("drop", "reply_too_large")


@pytest.mark.parametrize("slack", [0, 1000])
def test_status_server_with_any_proxy_state_is_answered(slack: int) -> None:
    """Status-Server's reply is never larger than the request."""
    h = _harness()
    request, states = _filled(
        lambda attributes: encode_status_server(SECRET, identifier=2, attributes=attributes), slack
    )
    answer = h.engine.handle_auth(request.packet, SOURCE)
    assert answer is not None and answer[0][0] == c.Code.ACCESS_ACCEPT
    assert decode_request(answer[0]).proxy_states == tuple(states)


def test_an_accept_that_does_not_fit_becomes_a_bare_reject() -> None:
    """A method's accept plus the echoed Proxy-State overflow 4096: a reject that says why."""

    class Generous:
        def handle(self, *_args: object) -> MethodResult:
            return MethodResult(Decision(Outcome.ACCEPT, Reason.OK, ((c.CLASS, b"k" * 200),) * 3))

    h = _harness()
    h.engine.methods["eap"] = Generous()  # type: ignore[assignment]
    request, states = _filled(
        lambda attributes: encode_access_request(
            SECRET,
            identifier=5,
            attributes=[
                (c.USER_NAME, EMAIL.encode()),
                (c.EAP_MESSAGE, b"\x02\x01\x00\x06\x01a"),
                *attributes,
            ],
        ),
        100,
    )
    answer = h.engine.handle_auth(request.packet, SOURCE)
    assert answer is not None
    assert answer[0][0] == c.Code.ACCESS_REJECT
    assert verify_reply(answer[0], request.authenticator, SECRET)
    assert decode_request(answer[0]).proxy_states == tuple(states)
    line = _lines(h)[-1]
    assert (line["outcome"], line["reason"], line["detail"]) == ("reject", "reply_too_large", "ok")


# -- a wrong Message-Authenticator when it is not required -----------------------------


def test_wrong_message_authenticator_dropped_even_when_not_required_pap() -> None:
    """Optional means "may be absent", never "may be wrong": the right PIN must not pass."""
    h = _harness()
    _lenient_client(h)
    request = encode_request(SECRET, identifier=4, user_name=EMAIL, password=PIN.encode())
    assert h.engine.handle_auth(tampered(request.packet), SOURCE) is None
    line = _lines(h)[-1]
    assert (line["outcome"], line["reason"]) == ("drop", "bad_authenticator")
    # The same request, untampered, is accepted: the drop came from the check alone.
    answer = h.engine.handle_auth(request.packet, (NAS_ADDRESS, 40001))
    assert answer is not None and answer[0][0] == c.Code.ACCESS_ACCEPT
