"""An access point's Dynamic Authorization Server (RFC 5176) for tests, on real UDP.

Written apart from the server's code on purpose (hashlib and hmac only), so a
mistake in our Disconnect-Request encoding cannot hide behind the same mistake
in the check. Like hostapd's DAS it drops a request whose Request Authenticator
or Message-Authenticator is wrong, and answers ACK, NAK (with an Error-Cause) or
nothing, as the test asks, to Disconnect-Requests and CoA-Requests alike or (with
``coa_mode``) to CoA-Requests differently. It counts distinct requests: a retransmission (same
Identifier and Request Authenticator, RFC 5176 2.3) is the same request.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

DISCONNECT_REQUEST, DISCONNECT_ACK, DISCONNECT_NAK = 40, 41, 42
COA_REQUEST, COA_ACK, COA_NAK = 43, 44, 45
# A request code to its (ACK, NAK) codes (RFC 5176 2.1, 2.2).
_ANSWERS = {DISCONNECT_REQUEST: (DISCONNECT_ACK, DISCONNECT_NAK), COA_REQUEST: (COA_ACK, COA_NAK)}
MESSAGE_AUTHENTICATOR = 80
ERROR_CAUSE = 101


@dataclass
class Received:
    """One datagram that passed the checks."""

    at: float  # time.time() on arrival
    code: int
    identifier: int
    authenticator: bytes
    attributes: dict[int, list[bytes]]

    def text(self, attr_type: int) -> str | None:
        """The first value of ``attr_type`` as text."""
        values = self.attributes.get(attr_type)
        return values[0].decode() if values else None


@dataclass
class DasResponder:
    """A UDP DAS on 127.0.0.1. ``mode``: ack | nak | silent (change it any time).

    ``coa_mode``, when set, is the answer to CoA-Requests instead of ``mode``.
    """

    secret: bytes
    mode: str = "ack"
    coa_mode: str | None = None
    error_cause: int = 503
    received: list[Received] = field(default_factory=list)
    dropped: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop answering and close the socket."""
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def distinct(self, code: int | None = None) -> list[Received]:
        """The requests (of ``code`` if given), a retransmission counted once (first kept)."""
        seen: dict[tuple[int, bytes], Received] = {}
        with self._lock:
            for item in self.received:
                if code is None or item.code == code:
                    seen.setdefault((item.identifier, item.authenticator), item)
        return list(seen.values())

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` distinct requests arrived (or the time is up); return them."""
        deadline = time.monotonic() + timeout
        while len(self.distinct()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.distinct()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            request = self._check(data)
            if request is None:
                with self._lock:
                    self.dropped += 1
                continue
            with self._lock:
                self.received.append(request)
                mode = self.mode
                if request.code == COA_REQUEST and self.coa_mode is not None:
                    mode = self.coa_mode
            if mode == "silent":
                continue
            ack, nak = _ANSWERS[request.code]
            code = ack if mode == "ack" else nak
            attributes = (
                b"" if mode == "ack" else _attr(ERROR_CAUSE, struct.pack("!I", self.error_cause))
            )
            self._sock.sendto(self._reply(code, request, attributes), source)

    def _check(self, data: bytes) -> Received | None:
        if len(data) < 20 or data[0] not in _ANSWERS:
            return None
        length = struct.unpack("!H", data[2:4])[0]
        if length != len(data):
            return None
        attributes = _parse(data[20:])
        if attributes is None:
            return None
        # Request Authenticator: MD5 over the packet with 16 zero octets in its place.
        zeroed = data[:4] + bytes(16) + data[20:]
        expected = hashlib.md5(zeroed + self.secret, usedforsecurity=False).digest()
        if not hmac.compare_digest(expected, data[4:20]):
            return None
        # Message-Authenticator: required (as hostapd's radius_das_require_message_authenticator).
        found = attributes.get(MESSAGE_AUTHENTICATOR)
        if not found or len(found[0]) != 16:
            return None
        blank = _blank_message_authenticator(zeroed)
        mac = hmac.new(self.secret, blank, hashlib.md5).digest()
        if not hmac.compare_digest(mac, found[0]):
            return None
        return Received(time.time(), data[0], data[1], data[4:20], attributes)

    def _reply(self, code: int, request: Received, attributes: bytes) -> bytes:
        # Message-Authenticator over the reply with the request's authenticator in place.
        body = _attr(MESSAGE_AUTHENTICATOR, bytes(16)) + attributes
        header = struct.pack("!BBH", code, request.identifier, 20 + len(body))
        mac = hmac.new(self.secret, header + request.authenticator + body, hashlib.md5).digest()
        body = _attr(MESSAGE_AUTHENTICATOR, mac) + attributes
        digest = hashlib.md5(
            header + request.authenticator + body + self.secret, usedforsecurity=False
        ).digest()
        return header + digest + body


def _attr(attr_type: int, value: bytes) -> bytes:
    return bytes([attr_type, len(value) + 2]) + value


def _parse(data: bytes) -> dict[int, list[bytes]] | None:
    attributes: dict[int, list[bytes]] = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            return None
        attr_type, length = data[offset], data[offset + 1]
        if length < 2 or offset + length > len(data):
            return None
        attributes.setdefault(attr_type, []).append(data[offset + 2 : offset + length])
        offset += length
    return attributes


def _blank_message_authenticator(packet: bytes) -> bytes:
    """``packet`` with its Message-Authenticator's value set to zeros."""
    out = bytearray(packet)
    offset = 20
    while offset < len(out):
        attr_type, length = out[offset], out[offset + 1]
        if attr_type == MESSAGE_AUTHENTICATOR:
            out[offset + 2 : offset + length] = bytes(length - 2)
        offset += length
    return bytes(out)


@contextmanager
def das_responder(secret: bytes, mode: str = "ack") -> Iterator[DasResponder]:
    """A running responder, closed afterwards."""
    responder = DasResponder(secret, mode)
    try:
        yield responder
    finally:
        responder.close()
