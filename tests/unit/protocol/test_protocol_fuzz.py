"""Fuzz-ish: no input makes the core raise anything but ProtocolError.

Deterministic (seeded), so a failure reproduces; the seed is in the test id.
"""

from __future__ import annotations

import random

import pytest

from radius_server.protocol import (
    ProtocolError,
    check_request_authenticity,
    decode_request,
    decrypt_pin,
    encode_reply,
    verify_chap_request,
    verify_reply,
)
from radius_server.protocol.codes import Code
from tests.unit.protocol.protocol_samples import (
    RFC2865_7_1_REQUEST,
    RFC2865_7_2_REQUEST,
    SECRET,
    pap_request,
)


def exercise(data: bytes) -> None:
    """Run a datagram through everything the engine would call."""
    try:
        request = decode_request(data)
    except ProtocolError:
        return
    check_request_authenticity(request, SECRET)
    check_request_authenticity(request, SECRET, require_message_authenticator=False)
    if request.user_password is not None:
        decrypt_pin(request.user_password, SECRET, request.authenticator)
    verify_chap_request(request, b"12345")
    try:
        reply = encode_reply(request, Code.ACCESS_REJECT, SECRET)
    except ProtocolError:
        return  # e.g. too many Proxy-States to fit a reply
    assert verify_reply(reply, request.authenticator, SECRET)
    verify_reply(data, request.authenticator, SECRET)


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        size = rng.choice([0, 1, 19, 20, 21, 40, 100, 300, 4096, 5000])
        data = rng.randbytes(size)
        if size >= 20 and rng.random() < 0.7:
            # A plausible Length most of the time, so the attribute walk gets exercised.
            length = rng.randint(20, size)
            data = data[:2] + length.to_bytes(2, "big") + data[4:]
        exercise(data)


@pytest.mark.parametrize(
    "packet",
    [RFC2865_7_1_REQUEST, RFC2865_7_2_REQUEST, pap_request()],
    ids=["rfc2865-7.1", "rfc2865-7.2", "pap-with-ma"],
)
def test_bit_flips_and_truncations(packet: bytes) -> None:
    rng = random.Random(len(packet))
    for bit in range(len(packet) * 8):
        mutated = bytearray(packet)
        mutated[bit // 8] ^= 1 << (bit % 8)
        exercise(bytes(mutated))
    for cut in range(len(packet) + 1):
        exercise(packet[:cut])
    for _ in range(2000):
        mutated = bytearray(packet)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        exercise(bytes(mutated))
