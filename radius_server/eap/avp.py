"""Diameter-style AVPs carried inside the EAP-TTLS tunnel (RFC 5281 10.1).

    AVP Code(4) | Flags(1): V 0x80, M 0x40 | AVP Length(3) | [Vendor-ID(4)] | Data | pad to 4

AVP Length counts the header and the data, not the padding.
"""

from __future__ import annotations

from dataclasses import dataclass

FLAG_VENDOR = 0x80
FLAG_MANDATORY = 0x40
_MAX_LENGTH = 0xFFFFFF


class AvpError(ValueError):
    """Malformed AVPs; the message names the fault, never carries the data."""


@dataclass(frozen=True, slots=True)
class Avp:
    """One AVP. ``vendor`` is 0 for the RADIUS attribute space (RFC 5281 10.2)."""

    code: int
    data: bytes
    vendor: int = 0
    mandatory: bool = True


def encode_avp(code: int, data: bytes, vendor: int = 0, mandatory: bool = True) -> bytes:
    """One AVP, padded to a multiple of four octets."""
    flags = (FLAG_VENDOR if vendor else 0) | (FLAG_MANDATORY if mandatory else 0)
    header_len = 12 if vendor else 8
    length = header_len + len(data)
    if length > _MAX_LENGTH:
        raise AvpError("AVP too long")
    out = code.to_bytes(4, "big") + bytes((flags,)) + length.to_bytes(3, "big")
    if vendor:
        out += vendor.to_bytes(4, "big")
    return out + data + bytes(-length % 4)


def decode_avps(data: bytes) -> list[Avp]:
    """All AVPs of a TTLS message, in order.

    Raises:
        AvpError: an AVP whose length runs past the data or is shorter than its header.
    """
    avps: list[Avp] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 8 > end:
            raise AvpError("truncated AVP header")
        code = int.from_bytes(data[pos : pos + 4], "big")
        flags = data[pos + 4]
        length = int.from_bytes(data[pos + 5 : pos + 8], "big")
        header_len = 12 if flags & FLAG_VENDOR else 8
        if length < header_len or pos + length > end:
            raise AvpError("bad AVP length")
        vendor = int.from_bytes(data[pos + 8 : pos + 12], "big") if flags & FLAG_VENDOR else 0
        avps.append(
            Avp(code, data[pos + header_len : pos + length], vendor, bool(flags & FLAG_MANDATORY))
        )
        # RFC 5281 10.2: each AVP starts on a four-octet boundary.
        pos += length + (-length % 4)
    return avps
