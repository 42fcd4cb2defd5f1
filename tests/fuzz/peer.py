"""Whole PEAP/TTLS conversations for the ``eap_session`` fuzz target, one step tampered with.

The peer is the in-process supplicant of tests/unit/eap_peer.py (real
TLS over pyOpenSSL); every datagram goes through a fresh engine via
:class:`tests.fuzz.world.World`, which checks the engine's invariants on each.
"""

from __future__ import annotations

import hashlib

from radius_server.eap.codec import decode_eap
from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_access_request
from radius_server.protocol.packet import Attribute, decode_request
from tests.fuzz import targets
from tests.fuzz.world import EMAIL, PIN, PREVIOUS_PIN, SECRET, World, certificates
from tests.unit.eap_peer import CASES, Peer, eap_attributes

MAX_ROUNDS = 60
# Keeps a replaced EAP-Message inside one 4096-octet Access-Request.
_MAX_PAYLOAD = 3000


class TamperingPeer(Peer):
    """The test supplicant, except that its phase-2 message number ``at`` is ``payload``."""

    def __init__(self, *args: object, at: int = -1, payload: bytes = b"", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.at = at
        self.payload = payload
        self.calls = 0

    def _phase2(self, plain: bytes) -> bytes:
        self.calls += 1
        if self.calls - 1 == self.at:
            return self.payload
        return super()._phase2(plain)


def _request(attrs: list[Attribute], round_no: int, salt: int) -> bytes:
    authenticator = hashlib.md5(bytes((round_no, salt)), usedforsecurity=False).digest()
    return encode_access_request(
        SECRET, identifier=round_no & 0xFF, attributes=attrs, authenticator=authenticator
    ).packet


def _xor(message: bytes, payload: bytes) -> bytes:
    mixed = bytes(a ^ b for a, b in zip(message, payload, strict=False))
    return mixed + message[len(mixed) :]


def run_conversation(case: int, right: bool, kind: int, at: int, payload: bytes) -> bool:
    """Run one conversation; True when it ended in Access-Accept.

    A peer confused by a tampered step (it is only a test peer) ends the
    conversation; an exception from the server is never caught here.
    """
    eap_type, inner, _ = CASES[case % len(CASES)]
    payload = payload[:_MAX_PAYLOAD]
    peer = TamperingPeer(
        eap_type,
        identity=EMAIL,
        pin=PIN if right else PREVIOUS_PIN,
        inner=inner,
        tls13=bool(case & 4),
        fragment=1000 if case & 8 else 200,
        ca_file=certificates().ca_cert,
        at=at if kind == targets.INNER_PLAINTEXT else -1,
        payload=payload,
    )
    target = World()
    eap = peer.identity_response()
    state: bytes | None = None
    previous: list[Attribute] | None = None
    for round_no in range(MAX_ROUNDS):
        attrs = eap_attributes(eap, state, peer.anonymous, peer.station)
        if round_no == at:
            attrs = _tamper(kind, attrs, eap, state, payload, previous, target, round_no)
        previous = attrs
        reply = target.auth(_request(attrs, round_no, 0), accept_allowed=right)
        if reply is None:
            return False
        answer = decode_request(reply)
        if answer.code != c.Code.ACCESS_CHALLENGE or answer.eap_message is None:
            return answer.code == c.Code.ACCESS_ACCEPT
        state = answer.state
        try:
            eap = peer.answer(decode_eap(answer.eap_message))
        except Exception:
            if kind == targets.CLEAN:
                raise  # an untampered conversation must never confuse the peer
            return False
    return False


def _tamper(
    kind: int,
    attrs: list[Attribute],
    eap: bytes,
    state: bytes | None,
    payload: bytes,
    previous: list[Attribute] | None,
    target: World,
    round_no: int,
) -> list[Attribute]:
    """The attributes of round ``round_no`` after tampering of ``kind``."""
    if kind == targets.OUTER_REPLACE:
        return eap_attributes(payload, state, "anonymous", "02-00-00-00-00-01")
    if kind == targets.OUTER_XOR:
        return eap_attributes(_xor(eap, payload), state, "anonymous", "02-00-00-00-00-01")
    if kind == targets.STATE_REPLACE:
        without = [a for a in attrs if a[0] != c.STATE]
        return [*without, (c.STATE, payload[:64])] if payload else without
    if kind == targets.REPLAY and previous is not None:
        # The previous request again under a new authenticator: its State is spent.
        target.auth(_request(previous, round_no, 1))
    return attrs
