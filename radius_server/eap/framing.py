"""TLS records inside EAP: the Flags octet, the L/M/S bits and fragmentation.

RFC 5216 3.1 (EAP-TLS), reused by RFC 5281 9.1 (TTLS) and PEAP:

    Flags(1) [TLS Message Length(4) when L] [TLS Data]
    L 0x80 length included, M 0x40 more fragments, S 0x20 start,
    the low three bits carry the PEAP/TTLS version.

Both directions are fragmented. A peer fragment with M set is acknowledged by
an empty request; an empty response from the peer asks for our next fragment
(RFC 5216 2.1.5).
"""

from __future__ import annotations

from typing import NamedTuple

FLAG_LENGTH = 0x80
FLAG_MORE = 0x40
FLAG_START = 0x20
VERSION_MASK = 0x07


class FramingError(ValueError):
    """A TLS-over-EAP message that breaks the framing rules or our size bounds."""


class TlsFrame(NamedTuple):
    """One decoded EAP-TLS-style payload (a named tuple: one is made per round)."""

    flags: int
    total_length: int | None
    data: bytes

    @property
    def more(self) -> bool:
        """M: more fragments follow."""
        return bool(self.flags & FLAG_MORE)

    @property
    def version(self) -> int:
        """The PEAP/TTLS version bits."""
        return self.flags & VERSION_MASK

    @property
    def is_ack(self) -> bool:
        """An empty message: an acknowledgement of our fragment, or "nothing to say"."""
        return not self.data and not self.more


def decode_frame(type_data: bytes) -> TlsFrame:
    """Split the Type-Data of a PEAP/TTLS response into flags, length and data.

    Raises:
        FramingError: no flags octet, or L set without its four length octets.
    """
    if not type_data:
        raise FramingError("no flags octet")
    flags = type_data[0]
    if flags & FLAG_LENGTH:
        if len(type_data) < 5:
            raise FramingError("L flag without a length")
        return TlsFrame(flags, int.from_bytes(type_data[1:5], "big"), type_data[5:])
    return TlsFrame(flags, None, type_data[1:])


def encode_frame(flags: int, data: bytes = b"", total_length: int | None = None) -> bytes:
    """Type-Data for a PEAP/TTLS request."""
    if total_length is not None:
        return bytes((flags | FLAG_LENGTH,)) + total_length.to_bytes(4, "big") + data
    return bytes((flags,)) + data


class Reassembly:
    """Collects the fragments of one peer TLS message, bounded in size."""

    __slots__ = ("_expected", "_limit", "_parts", "_size")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._expected: int | None = None

    @property
    def in_progress(self) -> bool:
        """True while fragments have arrived and the last one has not."""
        return bool(self._parts)

    def add(self, frame: TlsFrame) -> bytes | None:
        """Add a fragment; return the whole message when it is complete, else None.

        Raises:
            FramingError: the declared or accumulated size exceeds the limit, or
                the fragments add up to more than the declared length.
        """
        if frame.total_length is not None and self._expected is None:
            if frame.total_length > self._limit:
                raise FramingError("declared TLS message length over the limit")
            self._expected = frame.total_length
        self._size += len(frame.data)
        if self._size > self._limit:
            raise FramingError("TLS message over the limit")
        if self._expected is not None and self._size > self._expected:
            raise FramingError("fragments longer than the declared length")
        self._parts.append(frame.data)
        if frame.more:
            return None
        message = b"".join(self._parts)
        self._parts = []
        self._size = 0
        self._expected = None
        return message


class Outgoing:
    """Our TLS message to the peer, handed out one fragment per EAP-Request."""

    __slots__ = ("_data", "_first", "_offset")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0
        self._first = True

    @property
    def done(self) -> bool:
        """True once the last fragment has been handed out."""
        return self._offset >= len(self._data) and not self._first

    def next_fragment(self, version: int, size: int) -> bytes:
        """Type-Data of the next request: L on the first of several, M while more follow."""
        chunk = self._data[self._offset : self._offset + size]
        self._offset += len(chunk)
        more = self._offset < len(self._data)
        flags = version | (FLAG_MORE if more else 0)
        total = len(self._data) if self._first and more else None
        self._first = False
        return encode_frame(flags, chunk, total)
