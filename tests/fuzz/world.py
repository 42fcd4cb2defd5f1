"""The fixed world every engine fuzz target runs in, and the oracles that judge its answers.

One shared secret, one client, a small directory (one member who may sign in,
one disabled, one expired), the EAP handler on a generated certificate, and a
fake clock: everything deterministic except the random State and challenges
the server draws itself. A fresh engine per input keeps inputs independent, so
a crash file replays the same way.

The oracles are written here, apart from the server's code (RFC 2865 5.2 PAP
and RFC 1994 CHAP with hashlib), so a bug in the server's own checks cannot
also blind the fuzzer.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import hmac
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from radius_server.eap.certificates import GeneratedFiles, generate
from radius_server.eap.handler import EapHandler, EapOptions
from radius_server.eap.plain_mschap import PlainMsChapHandler
from radius_server.eap.tls import TlsServer
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.client import verify_reply
from radius_server.protocol.errors import ProtocolError
from radius_server.protocol.packet import RadiusRequest, decode_request
from radius_server.rules.decision import Reason
from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.throttle import ThrottleSettings
from radius_server.runtime.engine import Engine
from radius_server.runtime.guard import Guard
from tests.unit.engine_harness import FakeClock, RecordingLog

SECRET = b"fuzz-secret-0123456789"
NAS = ("192.0.2.10", 40000)
EMAIL = "ada@example.org"
PIN = b"48213"
PREVIOUS_PIN = b"48214"  # still held by some device: the stale-PIN path
DISABLED = ("bob@example.org", b"13579")
EXPIRED = ("cy@example.org", b"24680")
USERS = (EMAIL, DISABLED[0], EXPIRED[0], "nobody@example.org")
# Small on purpose: the fuzzer fills the table, so the eviction paths run too.
EAP_OPTIONS = EapOptions(fragment_size=300, max_sessions=8, max_per_station=2)


class InvariantError(AssertionError):
    """The server broke one of the fuzzing invariants; the message says which."""


@cache
def certificates() -> GeneratedFiles:
    """One CA and server certificate per process (RSA key generation is slow)."""
    # libFuzzer ends the process without running atexit: the runner names a directory
    # it cleans up itself (RADIUS_FUZZ_WORKDIR); a manual run gets a temporary one.
    workdir = os.environ.get("RADIUS_FUZZ_WORKDIR")
    if workdir:
        directory = Path(tempfile.mkdtemp(prefix="certs-", dir=workdir))
    else:
        directory = Path(tempfile.mkdtemp(prefix="radius-fuzz-certs-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return generate(directory, "radius.fuzz.lan", "Fuzz", dt.datetime.now(dt.UTC))


@cache
def tls_server() -> TlsServer:
    """The TLS server context every fuzzed conversation shares."""
    files = certificates()
    return TlsServer(files.server_cert, files.server_key, files.ca_cert)


def _members(now: float) -> list[Member]:
    return [
        Member(1, EMAIL, PIN, True, True, None, None, now - 60, PREVIOUS_PIN),
        Member(2, DISABLED[0], DISABLED[1], False, True, None, None, None),
        Member(3, EXPIRED[0], EXPIRED[1], True, True, None, now - 1, None),
    ]


def member(user_name: str) -> Member | None:
    """The directory's member for ``user_name`` (for phase-2 targets that run without an engine)."""
    return _directory().members.get(user_name)


@cache
def _directory() -> Directory:
    directory = Directory()
    directory.members.replace_all(_members(FakeClock().now))
    return directory


@dataclass
class World:
    """A fresh engine with every method, its recording log and its EAP handler."""

    clock: FakeClock = field(default_factory=FakeClock)
    log: RecordingLog = field(default_factory=RecordingLog)

    def __post_init__(self) -> None:
        directory = Directory()
        directory.clients.put(Client(1, "ap", ip_network(NAS[0]), SECRET, True))
        directory.members.replace_all(_members(self.clock.now))
        directory.ready = True
        self.eap = EapHandler(tls_server(), EAP_OPTIONS, self.log)
        guard = Guard(ThrottleSettings(), self.log, store=None)
        self.engine = Engine(
            directory,
            self.log,
            clock=self.clock,
            monotonic=self.clock,
            methods={"eap": self.eap, "mschap": PlainMsChapHandler()},
            guard=guard,
        )

    def auth(self, packet: bytes, *, accept_allowed: bool = False) -> bytes | None:
        """One datagram on the authentication port, checked against every invariant.

        ``accept_allowed``: the caller knows the right PIN went in by a path the
        oracle cannot see (an EAP tunnel), so an Access-Accept is no bug.
        """
        return self._send(packet, accounting=False, accept_allowed=accept_allowed)

    def acct(self, packet: bytes) -> bytes | None:
        """One datagram on the accounting port, checked against every invariant."""
        return self._send(packet, accounting=True, accept_allowed=False)

    def _send(self, packet: bytes, *, accounting: bool, accept_allowed: bool) -> bytes | None:
        before = len(self.log.events)
        handle = self.engine.handle_acct if accounting else self.engine.handle_auth
        # Invariant 1: no exception escapes (atheris reports it with the input).
        result = handle(packet, NAS)
        events = self.log.events[before:]
        check_events(events, packet)
        self.check_bounded()
        if result is None:
            return None
        reply, _delay = result
        check_reply(packet, reply, accounting, accept_allowed)
        return reply

    def check_bounded(self) -> None:
        """Invariant 4: the EAP conversation table stays within its configured bounds."""
        sessions = self.eap.sessions
        if len(sessions) > EAP_OPTIONS.max_sessions:
            raise InvariantError(f"{len(sessions)} EAP sessions, limit {EAP_OPTIONS.max_sessions}")
        for station, mine in sessions._per_station.items():
            if len(mine) > EAP_OPTIONS.max_per_station:
                raise InvariantError(f"{len(mine)} EAP sessions for one station {station!r}")


def check_events(events: list[dict[str, Any]], packet: bytes) -> None:
    """Invariant 2: no internal_error, one canonical line per request, no PIN in the log."""
    for event in events:
        if event.get("reason") == Reason.INTERNAL_ERROR.value:
            raise InvariantError(f"internal_error logged: {event}")
    canonical = [e for e in events if e["event"] in ("access", "accounting")]
    others = [e for e in events if e["event"] in ("retransmission", "unknown_client")]
    if len(canonical) + len(others) != 1:
        raise InvariantError(f"expected one canonical log line, got {events}")
    for pin in (PIN, PREVIOUS_PIN, DISABLED[1], EXPIRED[1]):
        if pin not in packet and pin.decode() in repr(canonical):
            raise InvariantError(f"a PIN appears in the log: {canonical}")


def check_reply(packet: bytes, reply: bytes, accounting: bool, accept_allowed: bool) -> None:
    """Invariant 3: every reply verifies, and an Access-Accept proves the member's PIN."""
    try:
        request = decode_request(packet)
    except ProtocolError as exc:
        raise InvariantError(f"a reply to a packet the decoder refuses ({exc})") from None
    if not verify_reply(reply, request.authenticator, SECRET, request_code=request.code):
        raise InvariantError("reply does not verify")
    if len(reply) > c.MAX_PACKET_LENGTH:
        raise InvariantError("reply longer than 4096 octets")
    if reply[0] == c.Code.ACCESS_ACCEPT and request.code == c.Code.ACCESS_REQUEST:
        if accounting:
            raise InvariantError("Access-Accept on the accounting port")
        if not accept_allowed and not proves_pin(request):
            raise InvariantError("Access-Accept without the member's PIN")


def proves_pin(request: RadiusRequest) -> bool:
    """True when the request carries proof of the one valid member's PIN (PAP, CHAP, MS-CHAPv2).

    EAP never qualifies: a single fuzzed datagram cannot finish a TLS tunnel.
    """
    name = (request.user_name or "").strip().lower()
    if name != EMAIL:
        return False
    if request.user_password is not None:
        return _pap_plain(request.user_password, request.authenticator) == PIN
    if request.chap_password is not None and len(request.chap_password) == 17:
        challenge = request.chap_challenge or request.authenticator
        ident, response = request.chap_password[:1], request.chap_password[1:]
        expected = hashlib.md5(ident + PIN + challenge, usedforsecurity=False).digest()
        return hmac.compare_digest(expected, response)
    challenge = request.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP_CHALLENGE)
    raw = request.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP2_RESPONSE)
    if challenge is not None and raw is not None and len(raw) == 50:
        assert request.user_name is not None
        return mschap.verify_nt_response(
            raw[26:50], challenge, raw[2:18], request.user_name.encode(), PIN
        )
    return False


def _pap_plain(hidden: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 5.2 by hand: p_i = c_i xor MD5(secret + c_(i-1)), NUL padding removed."""
    previous, plain = authenticator, b""
    for start in range(0, len(hidden) - len(hidden) % 16, 16):
        block = hidden[start : start + 16]
        pad = hashlib.md5(SECRET + previous, usedforsecurity=False).digest()
        plain += bytes(a ^ b for a, b in zip(block, pad, strict=True))
        previous = block
    return plain.rstrip(b"\x00")
