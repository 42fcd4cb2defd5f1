"""EAP conversations through the engine with the in-process peer (tests/unit/eap_peer.py)."""

from __future__ import annotations

import time

import pytest

from radius_server.eap.codec import EapCode, EapType, decode_eap
from radius_server.eap.handler import MethodMemory
from radius_server.protocol import codes as c
from radius_server.protocol.salt import salt_decrypt
from tests.unit.eap_peer import CASES, Peer, certs, converse, eap_attributes, eap_engine
from tests.unit.eap_support import EMAIL, SECRET, access_request, make_engine, send
from tests.unit.engine_harness import proxy_states, tampered

__all__ = ["certs"]  # the fixture, re-exported for pytest


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize(("eap_type", "inner", "label"), CASES, ids=[c[2] for c in CASES])
def test_conversation_accepts_with_the_peers_keys(certs, eap_type, inner, label, tls13) -> None:
    engine, log, handler = eap_engine(certs, fragment_size=300)
    peer = Peer(eap_type, inner=inner, tls13=tls13, ca_file=certs.ca_cert)
    end = converse(engine, peer)
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    msk = peer.msk()
    recv = salt_decrypt(
        end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_RECV_KEY),
        SECRET,
        end.authenticator,
    )
    send = salt_decrypt(
        end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY),
        SECRET,
        end.authenticator,
    )
    assert (recv, send) == (msk[:32], msk[32:])
    assert decode_eap(end.reply.eap_message).code == EapCode.SUCCESS
    assert end.reply.get(c.USER_NAME) == EMAIL.encode()
    assert end.reply.get(c.REPLY_MESSAGE) is None
    final = log.access()[-1]
    assert (final["method"], final["user"], final["reason"]) == (label, EMAIL, "ok")
    assert "outer=anonymous" in final["detail"]
    assert len(handler.sessions) == 0


@pytest.mark.parametrize(("eap_type", "inner", "label"), CASES, ids=[c[2] for c in CASES])
def test_wrong_pin_is_rejected_with_eap_failure(certs, eap_type, inner, label) -> None:
    engine, log, handler = eap_engine(certs)
    end = converse(engine, Peer(eap_type, inner=inner, pin=b"00000", ca_file=certs.ca_cert))
    assert end.reply.code == c.Code.ACCESS_REJECT
    assert decode_eap(end.reply.eap_message).code == EapCode.FAILURE
    assert end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY) is None
    assert log.access()[-1]["reason"] == "wrong_pin"
    assert log.access()[-1]["method"] == label
    assert len(handler.sessions) == 0


def test_nak_switches_to_the_method_the_peer_wants(certs) -> None:
    engine, log, _ = eap_engine(certs, default_method="ttls")
    end = converse(engine, Peer(EapType.PEAP, ca_file=certs.ca_cert))
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    assert log.access()[-1]["method"] == "peap-mschapv2"


def test_a_returning_station_is_offered_its_own_method_first(certs) -> None:
    """After a TTLS sign-in the station gets TTLS first: no Nak round; others still PEAP."""
    engine, log, _ = eap_engine(certs)
    first = converse(engine, Peer(EapType.TTLS, inner="pap", ca_file=certs.ca_cert))
    again = converse(engine, Peer(EapType.TTLS, inner="pap", ca_file=certs.ca_cert))
    assert (first.reply.code, again.reply.code) == (c.Code.ACCESS_ACCEPT,) * 2
    assert again.rounds == first.rounds - 1
    other = Peer(EapType.TTLS, inner="pap", ca_file=certs.ca_cert, station="02-00-00-00-00-02")
    assert converse(engine, other).rounds == first.rounds
    # The device switched back to PEAP: it Naks TTLS, signs in, and is offered PEAP again.
    switched = converse(engine, Peer(EapType.PEAP, ca_file=certs.ca_cert))
    assert switched.reply.code == c.Code.ACCESS_ACCEPT
    assert converse(engine, Peer(EapType.PEAP, ca_file=certs.ca_cert)).rounds == switched.rounds - 1
    assert [line["method"] for line in log.access() if line["outcome"] == "accept"] == [
        "ttls-pap"
    ] * 3 + ["peap-mschapv2"] * 2


def test_a_rejected_sign_in_does_not_change_the_method_offered(certs) -> None:
    engine, _, handler = eap_engine(certs)
    wrong = Peer(EapType.TTLS, inner="pap", pin=b"00000", ca_file=certs.ca_cert)
    assert converse(engine, wrong).reply.code == c.Code.ACCESS_REJECT
    assert len(handler._methods) == 0


def test_the_method_memory_is_bounded_and_forgets_the_oldest() -> None:
    memory = MethodMemory(2)
    for station in ("a", "b", "c"):
        memory.remember(station, EapType.TTLS, EapType.PEAP)
    assert [memory.get(s, EapType.PEAP) for s in "abc"] == [EapType.PEAP] + [EapType.TTLS] * 2
    memory.remember("b", EapType.PEAP, EapType.PEAP)  # back to the default: forgotten
    assert len(memory) == 1


def test_large_fragments_and_tiny_fragments_both_work(certs) -> None:
    for size in (200, 3000):
        engine, _, _ = eap_engine(certs, fragment_size=size)
        peer = Peer(EapType.TTLS, inner="pap", fragment=64, ca_file=certs.ca_cert)
        assert converse(engine, peer).reply.code == c.Code.ACCESS_ACCEPT


@pytest.mark.parametrize(
    ("setting", "framed_mtu", "largest"),
    [
        (1390, None, 1400),  # the default: 1400-octet EAP packets, hostapd's Framed-MTU
        (3000, 1400, 1400),  # eapol_test's and hostapd's Framed-MTU bounds a larger setting
        (3000, 600, 600),
        (1024, 1400, 1034),  # the setting bounds a larger Framed-MTU
        (3000, 40, 210),  # an implausible Framed-MTU: the smallest useful fragment instead
    ],
)
def test_eap_requests_fit_the_framed_mtu(certs, setting, framed_mtu, largest) -> None:
    """RFC 3579 2.2: no EAP-Request larger than the NAS's Framed-MTU; full ones otherwise."""
    engine, _, _ = eap_engine(certs, fragment_size=setting)
    peer = Peer(EapType.PEAP, tls13=False, ca_file=certs.ca_cert)
    end = converse(engine, peer, framed_mtu=framed_mtu)
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    # The server's first flight (about 2.4 KB with the CA) is cut into full fragments.
    assert end.largest_request == largest


def test_identity_request_answers_eap_start(certs) -> None:
    engine, _, _ = eap_engine(certs)
    from radius_server.protocol.packet import decode_request

    packet, _ = access_request([(c.USER_NAME, b"x"), (c.EAP_MESSAGE, b"")])
    reply = decode_request(engine.handle_auth(packet, ("127.0.0.1", 1))[0])
    assert reply.code == c.Code.ACCESS_CHALLENGE
    assert decode_eap(reply.eap_message).type == EapType.IDENTITY


# A chain of proxies: about 3.3 KB of Proxy-State, as seen in the field (issue 10).
PROXY_CHAIN = [bytes((n,)) * 250 for n in range(13)] + [b"z" * 50]


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
def test_peap_through_a_chain_of_proxies(certs, tls13) -> None:
    """Fragments shrink to fit beside 3.3 KB of echoed Proxy-State: the sign-in works."""
    engine, log, handler = eap_engine(certs, fragment_size=1024)
    peer = Peer(EapType.PEAP, tls13=tls13, ca_file=certs.ca_cert, fragment=500)
    end = converse(engine, peer, proxy_states=PROXY_CHAIN)
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    assert decode_eap(end.reply.eap_message).code == EapCode.SUCCESS
    assert log.access()[-1]["reason"] == "ok"
    assert all(line["reason"] != "internal_error" for line in log.access())
    assert len(handler.sessions) == 0


def test_large_fragment_setting_is_lowered_to_what_fits(certs) -> None:
    """eap_fragment_size 3000 with a few hundred octets of Proxy-State still fits."""
    engine, _, _ = eap_engine(certs, fragment_size=3000)
    peer = Peer(EapType.TTLS, inner="pap", ca_file=certs.ca_cert)
    end = converse(engine, peer, proxy_states=[b"p" * 200] * 6)
    assert end.reply.code == c.Code.ACCESS_ACCEPT


def test_no_room_for_a_fragment_is_a_clean_reject(certs) -> None:
    """Proxy-State leaving under MIN_FRAGMENT octets: EAP-Failure, reply_too_large, no session."""
    engine, log, handler = eap_engine(certs)
    states = [b"p" * 253] * 15 + [b"q" * 40]
    end = converse(engine, Peer(EapType.PEAP, ca_file=certs.ca_cert), proxy_states=states)
    assert end.reply.code == c.Code.ACCESS_REJECT
    assert decode_eap(end.reply.eap_message).code == EapCode.FAILURE
    line = log.access()[-1]
    assert (line["outcome"], line["reason"]) == ("reject", "reply_too_large")
    assert len(handler.sessions) == 0


def test_proxy_state_growing_mid_conversation_ends_it_cleanly(certs) -> None:
    """The room shrinks after the handshake began: rejected, conversation forgotten."""
    from radius_server.protocol.packet import decode_request

    engine, log, handler = eap_engine(certs, fragment_size=300)
    peer = Peer(EapType.PEAP, ca_file=certs.ca_cert)
    eap, state = peer.identity_response(), None
    while state is None or len(eap) > 6:  # until the peer acknowledges our first fragment
        packet, _auth = access_request(eap_attributes(eap, state, peer.anonymous, peer.station))
        reply = decode_request(engine.handle_auth(packet, ("127.0.0.1", 40000))[0])
        assert reply.code == c.Code.ACCESS_CHALLENGE
        state, eap = reply.state, peer.answer(decode_eap(reply.eap_message))
    assert len(handler.sessions) == 1
    states = [b"p" * 253] * 15 + [b"q" * 20]
    packet, _auth = access_request(eap_attributes(eap, state, peer.anonymous, peer.station, states))
    reply = decode_request(engine.handle_auth(packet, ("127.0.0.1", 40000))[0])
    assert reply.code == c.Code.ACCESS_REJECT and reply.proxy_states == tuple(states)
    assert decode_eap(reply.eap_message).code == EapCode.FAILURE
    assert log.access()[-1]["reason"] == "reply_too_large"
    assert len(handler.sessions) == 0


def test_empty_user_name_and_empty_eap_identity_sign_in(certs) -> None:
    """hostapd copies an empty EAP identity into an empty User-Name: the inner one counts."""
    engine, log, handler = eap_engine(certs)
    end = converse(engine, Peer(EapType.PEAP, anonymous="", ca_file=certs.ca_cert))
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    assert end.reply.get(c.USER_NAME) == EMAIL.encode()
    assert log.access()[-1]["user"] == EMAIL
    assert len(handler.sessions) == 0


def test_a_device_dropped_in_a_flood_is_answered_when_it_retransmits(certs) -> None:
    """A full table drops a new conversation; the drop is not remembered (issue 10, 9)."""
    from radius_server.protocol.packet import decode_request

    engine, log, handler = eap_engine(certs, max_sessions=1)
    busy = Peer(EapType.PEAP, ca_file=certs.ca_cert, station="02-00-00-00-00-0a")
    first, _ = access_request(
        eap_attributes(busy.identity_response(), None, busy.anonymous, busy.station)
    )
    taken = engine.handle_auth(first, ("127.0.0.1", 40000))  # takes the one slot
    assert taken is not None
    busy_state = decode_request(taken[0]).state
    device = Peer(EapType.PEAP, ca_file=certs.ca_cert, station="02-00-00-00-00-0b")
    packet, _ = access_request(
        eap_attributes(device.identity_response(), None, device.anonymous, device.station)
    )
    assert engine.handle_auth(packet, ("127.0.0.1", 40001)) is None
    assert log.access()[-1]["reason"] == "eap_session_limit"
    handler.sessions.remove(handler.sessions.get(busy_state, time.monotonic()))  # slot frees
    answer = engine.handle_auth(packet, ("127.0.0.1", 40001))  # the same datagram again
    assert answer is not None
    assert decode_request(answer[0]).code == c.Code.ACCESS_CHALLENGE
    assert log.access()[-1]["reason"] == "eap_challenge"


def test_wrong_message_authenticator_dropped_even_when_not_required_eap(certs) -> None:
    """A client allowed to omit Message-Authenticator still may not send a wrong one."""
    import ipaddress

    from radius_server.rules.directory import Client

    engine, log, handler = eap_engine(certs)
    engine.directory.clients.put(
        Client(1, "ap", ipaddress.ip_network("127.0.0.1/32"), SECRET, False)
    )
    peer = Peer(EapType.PEAP, ca_file=certs.ca_cert)
    packet, _ = access_request(
        eap_attributes(peer.identity_response(), None, peer.anonymous, peer.station)
    )
    assert engine.handle_auth(tampered(packet), ("127.0.0.1", 40000)) is None
    line = log.access()[-1]
    assert (line["outcome"], line["reason"]) == ("drop", "bad_authenticator")
    assert len(handler.sessions) == 0
    assert engine.handle_auth(packet, ("127.0.0.1", 40001)) is not None  # untampered: answered


@pytest.mark.parametrize("slack", [0, 3, 10, 40, 200, 400, 700, 1500])
@pytest.mark.parametrize("first", ["start", "identity"])
def test_no_proxy_state_size_breaks_the_first_eap_round(certs, slack: int, first: str) -> None:
    """Whatever room the Proxy-State leaves: an answer that fits, or a clean drop."""
    from radius_server.protocol.packet import decode_request

    engine, log, handler = eap_engine(certs)
    eap = b"" if first == "start" else Peer(EapType.PEAP).identity_response()
    base = [(c.USER_NAME, b"anonymous"), (c.EAP_MESSAGE, eap)]
    size = len(access_request(base)[0])
    states = proxy_states(c.MAX_PACKET_LENGTH - slack - size)
    packet, _ = access_request(base + [(c.PROXY_STATE, s) for s in states])
    assert len(packet) == c.MAX_PACKET_LENGTH - slack
    answer = engine.handle_auth(packet, ("127.0.0.1", 40000))
    line = log.access()[-1]
    assert line["reason"] != "internal_error"
    if answer is None:
        assert line["reason"] == "reply_too_large"
    else:
        reply = decode_request(answer[0])
        assert reply.proxy_states == tuple(states)
        if reply.code == c.Code.ACCESS_CHALLENGE:
            assert line["reason"] == "eap_challenge"
        else:
            assert line["reason"] == "reply_too_large"
    assert len(handler.sessions) == (
        1 if first == "identity" and line["reason"] == "eap_challenge" else 0
    )


def test_helpers_build_a_verifiable_request() -> None:
    engine, log = make_engine({})
    reply, _ = send(engine, [(c.USER_NAME, b"nobody@example.org")])
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[0]["outcome"] == "reject"
