"""Bounds on EAP conversations: count, per station, size, rounds, expiry, State, Identifier."""

from __future__ import annotations

from dataclasses import dataclass

from radius_server.eap.codec import EapCode, EapType, decode_eap, encode_eap
from radius_server.eap.framing import FLAG_LENGTH, FLAG_MORE, encode_frame
from radius_server.eap.sessions import SessionTable
from radius_server.protocol import codes as c
from radius_server.protocol.packet import decode_request
from tests.unit.eap_peer import Peer, certs, converse, eap_attributes, eap_engine
from tests.unit.eap_support import access_request

__all__ = ["certs"]  # the fixture, re-exported for pytest


@dataclass
class Item:
    station: str
    state: bytes = b""
    touched: float = 0.0


def test_table_refuses_when_full_of_busy_ones_and_expires_idle_ones() -> None:
    table: SessionTable[Item] = SessionTable(max_sessions=2, timeout=10.0, min_idle=2.0)
    first, second, third = Item("a"), Item("b"), Item("c")
    assert table.add(first, now=0.0)
    assert table.add(second, now=0.5)
    assert not table.add(third, now=1.0)  # both active within min_idle
    assert table.get(first.state, now=9.0) is first
    assert table.expire(now=10.5) == 2  # idle since 0.0 and 0.5
    assert table.get(first.state, now=10.5) is None
    assert table.add(third, now=11.0)
    assert len(table) == 1


def test_a_full_table_evicts_its_idlest_conversation() -> None:
    table: SessionTable[Item] = SessionTable(max_sessions=2, timeout=60.0, min_idle=2.0)
    first, second, third = Item("a"), Item("b"), Item("c")
    table.add(first, now=0.0)
    table.add(second, now=1.0)
    table.renew(first, now=3.0)  # first is active again: second is now the idlest
    assert table.add(third, now=3.5)
    assert table.evicted == 1
    assert table.get(second.state, now=3.5) is None
    assert table.get(first.state, now=3.5) is first


def test_renew_gives_a_fresh_state_and_forgets_the_old_one() -> None:
    table: SessionTable[Item] = SessionTable(max_sessions=4, timeout=10.0)
    item = Item("a")
    table.add(item, now=0.0)
    old = item.state
    new = table.renew(item, now=8.0)
    assert new != old and len(new) == 16
    assert table.get(old, now=8.0) is None
    # Renewing counts as activity: still alive after the first deadline.
    assert table.get(new, now=15.0) is item


def test_states_drawn_from_the_pool_never_repeat_across_refills() -> None:
    """States come 64 to a system call: past several refills, each is new and 16 octets."""
    table: SessionTable[Item] = SessionTable(max_sessions=4, timeout=10.0)
    item = Item("a")
    table.add(item, now=0.0)
    seen = {item.state}
    for n in range(300):
        seen.add(table.renew(item, now=float(n)))
    assert len(seen) == 301
    assert {len(state) for state in seen} == {16}
    assert len(table) == 1


def test_a_station_at_its_limit_replaces_its_oldest_conversation() -> None:
    table: SessionTable[Item] = SessionTable(max_sessions=100, timeout=60.0, max_per_station=2)
    a1, a2, a3, b1 = Item("a"), Item("a"), Item("a"), Item("b")
    for now, item in enumerate((a1, b1, a2, a3)):
        assert table.add(item, now=float(now))
    assert table.get(a1.state, 4.0) is None
    assert table.get(a2.state, 4.0) is a2 and table.get(a3.state, 4.0) is a3
    assert table.get(b1.state, 4.0) is b1
    table.remove(a2)
    assert len(table) == 2


def _start(engine, station: str = "02-00-00-00-00-09", ident: int = 1):
    eap = encode_eap(EapCode.RESPONSE, ident, EapType.IDENTITY, b"anonymous")
    packet, _ = access_request(eap_attributes(eap, None, "anonymous", station))
    answer = engine.handle_auth(packet, ("127.0.0.1", 40000))
    return None if answer is None else decode_request(answer[0])


def _send(engine, eap: bytes, state: bytes | None, station: str = "02-00-00-00-00-09"):
    packet, _ = access_request(eap_attributes(eap, state, "anonymous", station))
    answer = engine.handle_auth(packet, ("127.0.0.1", 40000))
    return None if answer is None else decode_request(answer[0])


def test_a_full_table_drops_new_conversations_while_all_are_busy(certs) -> None:
    engine, log, handler = eap_engine(certs, max_sessions=3)
    clock = [100.0]
    engine.monotonic = lambda: clock[0]
    replies = [_start(engine, station=f"st-{i}") for i in range(3)]
    assert all(r is not None and r.code == c.Code.ACCESS_CHALLENGE for r in replies)
    assert _start(engine, station="st-new") is None
    assert log.access()[-1]["reason"] == "eap_session_limit"
    assert len(handler.sessions) == 3
    # Seconds later the half-open ones are fair game: a member gets through.
    clock[0] += 5.0
    peer = Peer(EapType.PEAP, ca_file=certs.ca_cert)
    assert converse(engine, peer).reply.code == c.Code.ACCESS_ACCEPT
    assert handler.sessions.evicted == 1


def test_idle_conversations_expire_and_their_state_is_refused(certs) -> None:
    engine, log, handler = eap_engine(certs, session_timeout=30.0)
    clock = [1000.0]
    engine.monotonic = lambda: clock[0]
    start = _start(engine)
    request = decode_eap(start.eap_message)
    clock[0] += 31.0
    ack = encode_eap(EapCode.RESPONSE, request.identifier, EapType.PEAP, encode_frame(0))
    reply = _send(engine, ack, start.state)
    assert reply.code == c.Code.ACCESS_REJECT
    assert decode_eap(reply.eap_message).code == EapCode.FAILURE
    assert log.access()[-1]["reason"] == "eap_unknown_state"
    assert len(handler.sessions) == 0


def test_a_response_with_another_identifier_is_dropped(certs) -> None:
    engine, log, _ = eap_engine(certs)
    start = _start(engine)
    wrong = (decode_eap(start.eap_message).identifier + 7) & 0xFF
    eap = encode_eap(EapCode.RESPONSE, wrong, EapType.PEAP, encode_frame(0))
    assert _send(engine, eap, start.state) is None
    assert log.access()[-1]["detail"] == "identifier_mismatch"


def test_an_oversized_peer_message_ends_the_conversation(certs) -> None:
    engine, log, handler = eap_engine(certs)
    start = _start(engine)
    rid = decode_eap(start.eap_message).identifier
    frame = encode_frame(FLAG_MORE, b"\x16" * 100, total_length=1 << 20)
    assert frame[0] & FLAG_LENGTH
    reply = _send(engine, encode_eap(EapCode.RESPONSE, rid, EapType.PEAP, frame), start.state)
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "eap_protocol_error"
    assert len(handler.sessions) == 0


def test_endless_fragments_hit_the_round_limit(certs) -> None:
    engine, log, handler = eap_engine(certs)
    reply = _start(engine)
    for _ in range(200):
        rid = decode_eap(reply.eap_message).identifier
        frame = encode_frame(FLAG_MORE, b"\x16")
        reply = _send(engine, encode_eap(EapCode.RESPONSE, rid, EapType.PEAP, frame), reply.state)
        if reply is None:
            break
    assert reply is None
    assert log.access()[-1]["reason"] == "eap_session_limit"
    assert len(handler.sessions) == 0


def test_garbage_instead_of_a_client_hello_fails_tls(certs) -> None:
    engine, log, handler = eap_engine(certs)
    start = _start(engine)
    rid = decode_eap(start.eap_message).identifier
    eap = encode_eap(
        EapCode.RESPONSE, rid, EapType.PEAP, encode_frame(0, b"GET / HTTP/1.1\r\n\r\n")
    )
    reply = _send(engine, eap, start.state)
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "eap_tls_failed"
    assert len(handler.sessions) == 0


def test_malformed_eap_is_dropped(certs) -> None:
    engine, log, _ = eap_engine(certs)
    packet, _ = access_request([(c.USER_NAME, b"x"), (c.EAP_MESSAGE, b"\x02\x01\x00\x09\x01")])
    assert engine.handle_auth(packet, ("127.0.0.1", 1)) is None
    assert log.access()[-1]["reason"] == "malformed"


def test_a_nak_for_something_else_ends_with_no_common_method(certs) -> None:
    engine, log, _ = eap_engine(certs)
    start = _start(engine)
    rid = decode_eap(start.eap_message).identifier
    reply = _send(engine, encode_eap(EapCode.RESPONSE, rid, EapType.NAK, b"\x04"), start.state)
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "eap_no_common_method"


def test_a_flood_of_starts_from_one_station_keeps_only_a_few(certs) -> None:
    engine, _, handler = eap_engine(certs)
    for _ in range(50):
        _start(engine, station="aa-bb")
    assert len(handler.sessions) == handler.options.max_per_station
    # ... and other members still get through.
    assert converse(engine, Peer(EapType.PEAP, ca_file=certs.ca_cert)).reply.code == (
        c.Code.ACCESS_ACCEPT
    )
