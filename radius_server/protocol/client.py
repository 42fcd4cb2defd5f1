"""The client side, for ``radius-server test``, the benchmark load generator and tests.

Builds Access-Request (PAP or CHAP), Status-Server and Accounting-Request
packets the way a careful NAS does (Message-Authenticator first), and checks
the replies: Response Authenticator and Message-Authenticator.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from radius_server.protocol import codes as c
from radius_server.protocol.authenticator import (
    MA_PLACEHOLDER,
    ZERO_AUTHENTICATOR,
    compute_message_authenticator,
    response_authenticator,
    sign_leading_message_authenticator,
)
from radius_server.protocol.chap import encode_chap_password
from radius_server.protocol.digest import md5
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute
from radius_server.protocol.pap import encrypt_password


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """A request ready to send, with what is needed to check its reply."""

    packet: bytes
    code: int
    identifier: int
    authenticator: bytes


def _body(attributes: Iterable[Attribute], message_authenticator: bool) -> bytes:
    parts: list[bytes] = [MA_PLACEHOLDER] if message_authenticator else []
    for attr_type, value in attributes:
        if len(value) > c.MAX_ATTRIBUTE_VALUE_LENGTH:
            raise EncodeError("attribute value longer than 253 octets")
        parts.append(bytes((attr_type, len(value) + 2)) + value)
    body = b"".join(parts)
    if c.HEADER_LENGTH + len(body) > c.MAX_PACKET_LENGTH:
        raise EncodeError("request longer than 4096 octets")
    return body


def _header(code: int, identifier: int, body: bytes) -> bytes:
    if not 0 <= identifier <= 255:
        raise EncodeError("identifier out of range")
    length = c.HEADER_LENGTH + len(body)
    return bytes((code, identifier, length >> 8, length & 0xFF))


def _sign_random(
    code: int,
    identifier: int,
    authenticator: bytes,
    attributes: list[Attribute],
    secret: bytes,
    message_authenticator: bool,
) -> EncodedRequest:
    """Access-Request / Status-Server: random Request Authenticator (RFC 2865 3)."""
    body = _body(attributes, message_authenticator)
    header = _header(code, identifier, body)
    if message_authenticator:
        body = sign_leading_message_authenticator(header, authenticator, body, secret)
    return EncodedRequest(header + authenticator + body, code, identifier, authenticator)


def encode_request(
    secret: bytes,
    *,
    identifier: int,
    user_name: str,
    password: bytes,
    method: Literal["pap", "chap"] = "pap",
    attributes: Iterable[Attribute] = (),
    message_authenticator: bool = True,
    authenticator: bytes | None = None,
    chap_id: int | None = None,
    chap_challenge: bytes | None = None,
) -> EncodedRequest:
    """Build an Access-Request with PAP (User-Password) or CHAP (CHAP-Password).

    For CHAP, ``chap_challenge`` adds a CHAP-Challenge attribute; without it
    the Request Authenticator is the challenge (RFC 2865 5.3). The
    authenticator and CHAP ident are random unless given (tests pin them).
    """
    if authenticator is None:
        authenticator = secrets.token_bytes(16)
    attrs: list[Attribute] = [(c.USER_NAME, user_name.encode("utf-8"))]
    if method == "pap":
        attrs.append((c.USER_PASSWORD, encrypt_password(password, secret, authenticator)))
    elif method == "chap":
        ident = secrets.randbelow(256) if chap_id is None else chap_id
        challenge = authenticator if chap_challenge is None else chap_challenge
        attrs.append((c.CHAP_PASSWORD, encode_chap_password(ident, password, challenge)))
        if chap_challenge is not None:
            attrs.append((c.CHAP_CHALLENGE, chap_challenge))
    else:
        raise EncodeError("method must be 'pap' or 'chap'")
    attrs.extend(attributes)
    return _sign_random(
        c.Code.ACCESS_REQUEST, identifier, authenticator, attrs, secret, message_authenticator
    )


def _signed(
    code: int,
    secret: bytes,
    identifier: int,
    attributes: Iterable[Attribute],
    authenticator: bytes | None,
) -> EncodedRequest:
    """A request with a random Request Authenticator and a Message-Authenticator first."""
    if authenticator is None:
        authenticator = secrets.token_bytes(16)
    return _sign_random(code, identifier, authenticator, list(attributes), secret, True)


def encode_access_request(
    secret: bytes,
    *,
    identifier: int,
    attributes: Iterable[Attribute],
    authenticator: bytes | None = None,
) -> EncodedRequest:
    """An Access-Request with the given attributes (EAP tests, custom clients).

    Signed with a Message-Authenticator (first) over a random Request Authenticator.
    """
    return _signed(c.Code.ACCESS_REQUEST, secret, identifier, attributes, authenticator)


def encode_status_server(
    secret: bytes,
    *,
    identifier: int,
    attributes: Iterable[Attribute] = (),
    authenticator: bytes | None = None,
) -> EncodedRequest:
    """Build a Status-Server with its mandatory Message-Authenticator (RFC 5997 3)."""
    return _signed(c.Code.STATUS_SERVER, secret, identifier, attributes, authenticator)


def encode_accounting_request(
    secret: bytes,
    *,
    identifier: int,
    attributes: Iterable[Attribute],
    message_authenticator: bool = False,
) -> EncodedRequest:
    """Build an Accounting-Request (RFC 2866 3); see :func:`encode_hashed_request`."""
    return encode_hashed_request(
        c.Code.ACCOUNTING_REQUEST,
        secret,
        identifier=identifier,
        attributes=attributes,
        message_authenticator=message_authenticator,
    )


def encode_hashed_request(
    code: int,
    secret: bytes,
    *,
    identifier: int,
    attributes: Iterable[Attribute],
    message_authenticator: bool,
) -> EncodedRequest:
    """Build a request whose Request Authenticator hashes the packet itself.

    Accounting-Request (RFC 2866 3), CoA-Request and Disconnect-Request (RFC 5176
    2.3): Request Authenticator = MD5(Code+ID+Length+16 zeros+attributes+secret).
    A Message-Authenticator, if wanted, goes first and is computed before it, with
    16 zeros in the Authenticator field (RFC 5176 3.4, RFC 2869 5.14); the
    Request Authenticator then covers it.
    """
    body = _body(attributes, message_authenticator)
    header = _header(code, identifier, body)
    if message_authenticator:
        body = sign_leading_message_authenticator(header, ZERO_AUTHENTICATOR, body, secret)
    authenticator = md5(header + ZERO_AUTHENTICATOR + body + secret)
    return EncodedRequest(header + authenticator + body, code, identifier, authenticator)


def verify_reply(
    reply: bytes,
    request_authenticator: bytes,
    secret: bytes,
    *,
    identifier: int | None = None,
    request_code: int = c.Code.ACCESS_REQUEST,
    require_message_authenticator: bool = True,
) -> bool:
    """True when ``reply`` answers our request and was signed with ``secret``.

    Checks the framing, the Identifier (when given), the Response Authenticator
    (RFC 2865 3) and the Message-Authenticator (RFC 3579 3.2) when present; its
    absence fails Access-* replies when ``require_message_authenticator``
    (BlastRADIUS). Never raises on garbage: returns False.
    """
    if len(reply) < c.HEADER_LENGTH:
        return False
    length = (reply[2] << 8) | reply[3]
    if length < c.HEADER_LENGTH or length > c.MAX_PACKET_LENGTH or len(reply) < length:
        return False
    reply = reply[:length]  # RFC 2865 3: octets beyond Length are padding
    if identifier is not None and reply[1] != identifier:
        return False
    expected = response_authenticator(reply[:4], request_authenticator, reply[20:], secret)
    if not hmac.compare_digest(expected, reply[4:20]):
        return False
    offset = _find_message_authenticator(reply)
    if offset == -1:
        return False  # broken attribute framing
    if offset is None:
        return not (require_message_authenticator and reply[0] in c.ACCESS_REPLY_CODES)
    vector = (
        ZERO_AUTHENTICATOR
        if reply[0] == c.Code.ACCOUNTING_RESPONSE and request_code != c.Code.STATUS_SERVER
        else request_authenticator
    )
    zeroed = reply[:4] + vector + reply[20:offset] + ZERO_AUTHENTICATOR + reply[offset + 16 :]
    mac = compute_message_authenticator(zeroed, secret)
    return hmac.compare_digest(mac, reply[offset : offset + 16])


def _find_message_authenticator(packet: bytes) -> int | None:
    """Offset of the Message-Authenticator value; None if absent, -1 if framing is broken."""
    pos, end = c.HEADER_LENGTH, len(packet)
    found: int | None = None
    while pos < end:
        if pos + 2 > end:
            return -1
        attr_len = packet[pos + 1]
        if attr_len < 2 or pos + attr_len > end:
            return -1
        if packet[pos] == c.MESSAGE_AUTHENTICATOR:
            if attr_len != 18 or found is not None:
                return -1
            found = pos + 2
        pos += attr_len
    return found
