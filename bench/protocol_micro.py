"""Micro-benchmark of the pure protocol core on the hot path of a PAP login.

One iteration = decode a typical hotspot Access-Request (with
Message-Authenticator), check its authenticity, decrypt and compare the PIN,
and encode an Access-Accept with a few attributes. Prints microseconds per
iteration (best of several rounds), plus a pyrad baseline for comparison.

    .venv/bin/python bench/protocol_micro.py [iterations]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from radius_server.protocol import (
    Authenticity,
    Code,
    check_request_authenticity,
    decode_request,
    decrypt_pin,
    encode_reply,
    encode_request,
    integer_attribute,
    pin_matches,
    string_attribute,
)
from radius_server.protocol import codes as c

SECRET = b"bench-shared-secret"
PIN = b"48213"
REQUEST = encode_request(
    SECRET,
    identifier=42,
    user_name="ada.lovelace@example.org",
    password=PIN,
    attributes=[
        (c.NAS_IP_ADDRESS, bytes([10, 0, 0, 1])),
        (c.NAS_PORT, (0).to_bytes(4, "big")),
        (c.NAS_IDENTIFIER, b"ap-lobby"),
        (c.CALLED_STATION_ID, b"AA-BB-CC-DD-EE-FF:Cowork"),
        (c.CALLING_STATION_ID, b"11-22-33-44-55-66"),
        (c.NAS_PORT_TYPE, (19).to_bytes(4, "big")),
        (c.SERVICE_TYPE, (1).to_bytes(4, "big")),
    ],
).packet
REPLY_ATTRIBUTES = [
    integer_attribute(c.SESSION_TIMEOUT, 3600),
    integer_attribute(c.IDLE_TIMEOUT, 600),
    string_attribute(c.FILTER_ID, "members"),
]


def ours() -> bytes:
    request = decode_request(REQUEST)
    if check_request_authenticity(request, SECRET) is not Authenticity.OK:
        raise AssertionError("authenticity")
    assert request.user_password is not None
    pin = decrypt_pin(request.user_password, SECRET, request.authenticator)
    if not pin_matches(pin, PIN):
        raise AssertionError("pin")
    return encode_reply(request, Code.ACCESS_ACCEPT, SECRET, REPLY_ATTRIBUTES)


def pyrad_baseline() -> bytes:
    from pyrad.packet import AuthPacket

    from radius_server.protocol import load_dictionary

    d = load_dictionary()

    def run() -> bytes:
        pkt = AuthPacket(packet=REQUEST, secret=SECRET, dict=d)
        if not pkt.verify_message_authenticator():
            raise AssertionError("authenticity")
        if pkt.PwDecrypt(pkt["User-Password"][0]) != PIN.decode():
            raise AssertionError("pin")
        _ = (pkt["User-Name"], pkt["Calling-Station-Id"], pkt["NAS-Identifier"])
        reply = pkt.CreateReply(Session_Timeout=3600, Idle_Timeout=600, Filter_Id="members")
        reply.code = Code.ACCESS_ACCEPT
        reply.add_message_authenticator()
        return reply.ReplyPacket()

    return run()


def measure(fn: Callable[[], object], iterations: int, rounds: int = 5) -> float:
    """Best-of-rounds microseconds per call."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best * 1e6


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    request = decode_request(REQUEST)
    print(f"request: {len(REQUEST)} octets, {len(request.attributes)} attributes")
    decode_us = measure(lambda: decode_request(REQUEST), iterations)
    verify_us = measure(lambda: check_request_authenticity(request, SECRET), iterations)
    assert request.user_password is not None
    password = request.user_password
    pap_us = measure(lambda: decrypt_pin(password, SECRET, request.authenticator), iterations)
    encode_us = measure(
        lambda: encode_reply(request, Code.ACCESS_ACCEPT, SECRET, REPLY_ATTRIBUTES), iterations
    )
    total_us = measure(ours, iterations)
    print(f"  decode_request              {decode_us:6.1f} us")
    print(f"  check_request_authenticity  {verify_us:6.1f} us")
    print(f"  decrypt_pin                 {pap_us:6.1f} us")
    print(f"  encode_reply (MA first)     {encode_us:6.1f} us")
    print(f"decode+verify+PAP+encode      {total_us:6.1f} us/request  ({1e6 / total_us:,.0f}/s)")
    baseline_us = measure(pyrad_baseline, max(1, iterations // 10), rounds=3)
    print(f"pyrad equivalent              {baseline_us:6.1f} us/request  (for comparison)")


if __name__ == "__main__":
    main()
