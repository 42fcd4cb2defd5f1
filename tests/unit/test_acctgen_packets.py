"""bench/acctgen.py's packets are what the server reads: the accounting benchmark's smoke test.

The generator is standard-library only and builds its packets itself; here the
project's own decoder, authenticity check and accounting record read them, so a
benchmark of ours can never be measuring drops of malformed or unsigned packets.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.authenticator import Authenticity, check_request_authenticity
from radius_server.protocol.client import encode_accounting_request
from radius_server.protocol.packet import decode_request
from radius_server.protocol.reply import encode_reply
from radius_server.rules.accounting import StatusType, record_from_request

# bench/ is not a package; appended, so its modules shadow nothing.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import acctgen

SECRET = b"bench-shared-secret"
NOW = 1_900_000_000.0


def play(message_authenticator: bool) -> list[tuple[tuple[str, int, int, int], bytes]]:
    """Packets of a plan's sessions, each answered in turn, with the session's totals then.

    The totals: (Acct-Session-Id, input octets, output octets, session time).
    """
    mix = acctgen.Mix(
        members=[f"member{i}@bench.test" for i in range(20)],
        sessions=8,
        gigawords_ratio=0.5,
        message_authenticator=message_authenticator,
        seed=3,
    )
    plan = acctgen.SessionPlan(mix, SECRET)
    played = []
    for identifier in range(120):
        session = plan.ready.popleft()
        status = session.next_status
        data = plan.packet(session, identifier)
        totals = (
            session.session_id,
            session.input_octets,
            session.output_octets,
            session.session_time,
        )
        played.append((totals, data))
        plan.advance(session, status, answered=True)
    return played


@pytest.mark.parametrize("message_authenticator", [False, True])
def test_every_packet_decodes_verifies_and_carries_the_sessions_counters(
    message_authenticator: bool,
) -> None:
    played = play(message_authenticator)
    keys: dict[str, set[str]] = {}
    statuses = set()
    gigawords = 0
    for (session_id, input_octets, output_octets, session_time), data in played:
        request = decode_request(data)
        assert request.code == c.Code.ACCOUNTING_REQUEST
        assert check_request_authenticity(request, SECRET) is Authenticity.OK
        assert (request.message_authenticator is not None) is message_authenticator
        # The same bytes as the product's client builds from the same attributes.
        again = encode_accounting_request(
            SECRET,
            identifier=request.identifier,
            attributes=[(t, v) for t, v in request.attributes if t != c.MESSAGE_AUTHENTICATOR],
            message_authenticator=message_authenticator,
        )
        assert again.packet == data
        record = record_from_request(request, "bench", "127.0.0.1", NOW)
        statuses.add(record.status)
        keys.setdefault(session_id, set()).add(record.unique_key)
        assert record.acct_session_id == session_id
        assert record.class_hex and record.framed_ip_address and record.calling_station_id
        if record.status is StatusType.START:
            assert record.input_octets is None
            continue
        # Gigawords folded in: the record's counters are the generator's exact totals.
        assert record.input_octets == input_octets
        assert record.output_octets == output_octets
        assert record.session_time == session_time
        assert record.event_time <= NOW
        gigawords += request.get(c.ACCT_INPUT_GIGAWORDS) is not None
        if record.status is StatusType.STOP:
            assert record.terminate_cause
    assert statuses == {StatusType.START, StatusType.INTERIM_UPDATE, StatusType.STOP}
    assert gigawords > 0
    # Every packet of a session lands on one session key; sessions never share one.
    assert all(len(found) == 1 for found in keys.values())
    assert len({key for found in keys.values() for key in found}) == len(keys)


def test_answered_and_given_up_packets_make_the_expectations() -> None:
    mix = acctgen.Mix(members=["a@bench.test", "b@bench.test"], sessions=1, interims=(1, 1))
    plan = acctgen.SessionPlan(mix, SECRET)
    first = plan.ready[0]
    for status, answered in ((1, True), (3, True), (2, False)):
        assert plan.ready.popleft() is first
        assert first.next_status == status
        plan.packet(first, 0)
        stop_octets = first.input_octets
        if status == 3:
            interim = (first.input_octets, first.output_octets, first.session_time)
        plan.advance(first, status, answered=answered)
    expected = plan.expectations()[first.session_id]
    # The Stop was given up: what the server confirmed last is the interim.
    assert (expected.status, expected.unconfirmed) == (3, True)
    assert (expected.input_octets, expected.output_octets, expected.session_time) == interim
    assert stop_octets > interim[0]
    # The slot goes on with its next member.
    second = plan.ready.popleft()
    assert second.session_id != first.session_id
    assert second.static != first.static


def test_the_generator_verifies_our_accounting_responses() -> None:
    _, data = play(False)[0]
    request = decode_request(data)
    for signed in (False, True):
        reply = encode_reply(
            request, c.Code.ACCOUNTING_RESPONSE, SECRET, message_authenticator=signed
        )
        assert acctgen._verify(reply, request.authenticator, SECRET)
        assert not acctgen._verify(reply, request.authenticator, b"another-secret")
        for offset in (4, len(reply) - 1):  # the Response Authenticator, the last octet
            tampered = reply[:offset] + bytes([reply[offset] ^ 1]) + reply[offset + 1 :]
            assert not acctgen._verify(tampered, request.authenticator, SECRET)
