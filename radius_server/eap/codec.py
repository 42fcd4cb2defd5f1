"""EAP packets (RFC 3748 4): Code(1) Identifier(1) Length(2) [Type(1) Type-Data].

Pure, strict decoding: a packet whose Length disagrees with the bytes received
is malformed (RFC 3748 4: "Octets outside the range of the Length field should
be treated as Data Link Layer padding", but EAP over RADIUS carries exactly one
packet per message, RFC 3579 3.1, so we refuse both shorter and longer).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class EapCode(IntEnum):
    """EAP codes (RFC 3748 4)."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class EapType(IntEnum):
    """The EAP method types we speak (IANA EAP registry)."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3
    MD5 = 4
    TLS = 13
    TTLS = 21
    PEAP = 25
    MSCHAPV2 = 26
    TLV = 33


class EapError(ValueError):
    """A malformed EAP packet; the message names the fault, never carries packet bytes."""


class EapPacket(NamedTuple):
    """One decoded EAP packet. ``type`` is None for Success and Failure.

    A named tuple, not a frozen dataclass: one is made per request, and a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``.
    """

    code: int
    identifier: int
    type: int | None = None
    data: bytes = b""

    def encode(self) -> bytes:
        """The wire form."""
        return encode_eap(self.code, self.identifier, self.type, self.data)


def encode_eap(code: int, identifier: int, eap_type: int | None = None, data: bytes = b"") -> bytes:
    """Build an EAP packet (RFC 3748 4); Success/Failure carry no type (RFC 3748 4.2)."""
    body = b"" if eap_type is None else bytes((eap_type,)) + data
    length = 4 + len(body)
    if length > 0xFFFF:
        raise EapError("EAP packet too long")
    return bytes((code, identifier & 0xFF, length >> 8, length & 0xFF)) + body


def decode_eap(data: bytes) -> EapPacket:
    """Decode one EAP packet.

    Raises:
        EapError: too short, Length mismatch, unknown code, or a Request/Response without Type.
    """
    if len(data) < 4:
        raise EapError("EAP packet shorter than its header")
    code, identifier = data[0], data[1]
    length = (data[2] << 8) | data[3]
    if length != len(data):
        raise EapError("EAP Length does not match the message")
    if code in _SUCCESS_FAILURE:
        if length != 4:
            raise EapError("EAP Success/Failure with data")
        return EapPacket(code, identifier)
    if code not in _REQUEST_RESPONSE:
        raise EapError("unknown EAP code")
    if length < 5:
        raise EapError("EAP Request/Response without a Type")
    return EapPacket(code, identifier, data[4], bytes(data[5:]))


# Plain ints: ``in`` over them is a C comparison, not an enum's per request.
_SUCCESS_FAILURE = frozenset({int(EapCode.SUCCESS), int(EapCode.FAILURE)})
_REQUEST_RESPONSE = frozenset({int(EapCode.REQUEST), int(EapCode.RESPONSE)})


def success(identifier: int) -> bytes:
    """EAP-Success with the Identifier of the Response it answers (RFC 3748 4.2)."""
    return encode_eap(EapCode.SUCCESS, identifier)


def failure(identifier: int) -> bytes:
    """EAP-Failure with the Identifier of the Response it answers (RFC 3748 4.2)."""
    return encode_eap(EapCode.FAILURE, identifier)


def next_identifier(identifier: int) -> int:
    """A new Identifier for the next Request (RFC 3748 4.1): the previous plus one, mod 256."""
    return (identifier + 1) & 0xFF


def nak_types(data: bytes) -> list[int]:
    """The method types a Nak (RFC 3748 5.3.1) asks for, in the peer's order of preference."""
    return [t for t in data if t != 0]
