"""An independent reference for RFC 5176 packets, written with hashlib and hmac only.

The tests check the project's encoder and decoder against these functions, and
the in-test access point (tests/integration/test_dynauth_sender.py) answers with
them, so nothing here imports radius_server: a mistake shared by the code and
its test would otherwise go unseen.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

ZEROS = bytes(16)
MA_TYPE = 80


def md5(data: bytes) -> bytes:
    """MD5 digest (the RADIUS RFCs mandate it)."""
    return hashlib.md5(data).digest()  # noqa: S324 - mandated by RFC 2865/5176


def attrs_bytes(attributes: list[tuple[int, bytes]]) -> bytes:
    """Type, Length, Value for each attribute."""
    return b"".join(struct.pack("!BB", t, len(v) + 2) + v for t, v in attributes)


def find_ma(packet: bytes) -> int | None:
    """Offset of the Message-Authenticator value in a well-formed packet, or None."""
    pos = 20
    while pos < len(packet):
        if packet[pos] == MA_TYPE:
            return pos + 2
        pos += packet[pos + 1]
    return None


def sign_request(
    code: int, identifier: int, secret: bytes, attributes: list[tuple[int, bytes]]
) -> bytes:
    """A Disconnect/CoA-Request with a Message-Authenticator first (RFC 5176 2.3, 3.4).

    The HMAC-MD5 is taken over the packet with a zero Authenticator and a zero
    Message-Authenticator value; then Request Authenticator =
    MD5(Code+ID+Length+16 zeros+attributes+secret) over the signed attributes.
    """
    body = attrs_bytes([(MA_TYPE, ZEROS), *attributes])
    header = struct.pack("!BBH", code, identifier, 20 + len(body))
    mac = hmac.new(secret, header + ZEROS + body, "md5").digest()
    body = body[:2] + mac + body[18:]
    return header + md5(header + ZEROS + body + secret) + body


def request_is_authentic(packet: bytes, secret: bytes) -> bool:
    """Verify a received Disconnect/CoA-Request the way hostapd's DAS does."""
    if md5(packet[:4] + ZEROS + packet[20:] + secret) != packet[4:20]:
        return False
    offset = find_ma(packet)
    if offset is None:
        return True
    zeroed = packet[:4] + ZEROS + packet[20:offset] + ZEROS + packet[offset + 16 :]
    return hmac.compare_digest(
        hmac.new(secret, zeroed, "md5").digest(), packet[offset : offset + 16]
    )


def sign_reply(
    code: int,
    identifier: int,
    request_authenticator: bytes,
    secret: bytes,
    attributes: list[tuple[int, bytes]],
    *,
    message_authenticator: bool = True,
    ma_vector: bytes | None = None,
) -> bytes:
    """An ACK/NAK as hostapd's radius_msg_finish_das_resp builds it (RFC 5176 3.4).

    Message-Authenticator (last here, as hostapd puts it) over the reply with the
    Request Authenticator in the Authenticator field (``ma_vector`` overrides it,
    to build wrong ones); then Response Authenticator =
    MD5(Code+ID+Length+Request Authenticator+attributes+secret).
    """
    attrs = list(attributes)
    if message_authenticator:
        attrs.append((MA_TYPE, ZEROS))
    body = attrs_bytes(attrs)
    header = struct.pack("!BBH", code, identifier, 20 + len(body))
    if message_authenticator:
        vector = request_authenticator if ma_vector is None else ma_vector
        mac = hmac.new(secret, header + vector + body, "md5").digest()
        body = body[:-16] + mac
    return header + md5(header + request_authenticator + body + secret) + body


def error_cause(value: int) -> tuple[int, bytes]:
    """An Error-Cause attribute (type 101, 32-bit integer)."""
    return (101, value.to_bytes(4, "big"))
