"""Fuzz targets: every parser that reads bytes from the wire, and the engine behind them.

Each target takes one input (bytes) and raises only when the server broke an
invariant: an exception the code under test should have turned into a clean
refusal, an ``internal_error``, an Access-Accept without the member's PIN, or
a bound exceeded. The same functions run under atheris (``tests/fuzz/run.py``,
coverage-guided) and in-process over the checked-in corpus (the replay test).

Input layouts are simple on purpose, so seeds can be written by hand and the
fuzzer's mutations keep their meaning (``tests/fuzz/seeds.py`` writes them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from radius_server.eap import avp as avps
from radius_server.eap import codec, framing
from radius_server.eap.codec import EapError
from radius_server.eap.eap_mschapv2 import EapMsChapV2Server, InnerError
from radius_server.eap.framing import FramingError, Outgoing, Reassembly
from radius_server.eap.peap import PeapPhase2
from radius_server.eap.steps import Finish, Phase2Error, Step
from radius_server.eap.tls import TlsError
from radius_server.eap.ttls import TtlsPhase2
from radius_server.protocol import codes as c
from radius_server.protocol import dynauth, mschap
from radius_server.protocol.authenticator import check_request_authenticity
from radius_server.protocol.chap import encode_chap_password, verify_chap_request
from radius_server.protocol.client import (
    encode_access_request,
    encode_accounting_request,
    encode_status_server,
    verify_reply,
)
from radius_server.protocol.errors import EncodeError, ProtocolError
from radius_server.protocol.packet import Attribute, decode_request
from radius_server.protocol.pap import decrypt_pin, encrypt_password
from radius_server.protocol.reply import encode_reply
from radius_server.rules import policy
from radius_server.rules.accounting import AccountingError, AccountingRecord, record_from_request
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.runtime.spool import decode_line, encode_line
from tests.fuzz import world
from tests.fuzz.world import EMAIL, PIN, SECRET, USERS, InvariantError, World

# The challenge and MS-CHAPv2-ID the phase-2 targets pin, so seeds can hold a correct proof.
FIXED_CHALLENGE = bytes(range(16))
FIXED_MS_ID = 7
# TTLS inner MS-CHAPv2: the "ttls challenge" export (16 octets of challenge, then the ident).
FIXED_TTLS_IMPLICIT = bytes(range(100, 116)) + b"\x2a"


class Reader:
    """Consumes an input front to back; past the end it yields zeros, never raises."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        """One octet (0 once the input is used up)."""
        value = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return value

    def take(self, size: int) -> bytes:
        """``size`` octets, zero-padded at the end of the input."""
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk + bytes(size - len(chunk))

    def rest(self) -> bytes:
        """Everything not consumed yet."""
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def chunks(data: bytes, limit: int = 16) -> Iterator[bytes]:
    """Split an input into messages: 2-octet length, then that many octets; the rest last."""
    pos = 0
    for _ in range(limit):
        if pos >= len(data):
            return
        if pos + 2 > len(data):
            yield data[pos:]
            return
        size = int.from_bytes(data[pos : pos + 2], "big")
        yield data[pos + 2 : pos + 2 + size]
        pos += 2 + size


def join_chunks(messages: list[bytes]) -> bytes:
    """The inverse of :func:`chunks`, for writing seeds."""
    return b"".join(len(m).to_bytes(2, "big") + m for m in messages)


def tlv_attributes(data: bytes) -> list[Attribute]:
    """Attributes from Type(1) Length(1) Value: Length counts the value only; cut at the end."""
    found: list[Attribute] = []
    pos = 0
    while pos + 2 <= len(data):
        attr_type, size = data[pos], min(data[pos + 1], c.MAX_ATTRIBUTE_VALUE_LENGTH)
        found.append((attr_type, data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return found


# -- the RADIUS decoder ---------------------------------------------------------------


def radius_decode(data: bytes) -> None:
    """decode_request and everything the engine calls on its result.

    Invariant: only ProtocolError; a decoded packet re-encodes to its own bytes.
    """
    try:
        request = decode_request(data)
    except ProtocolError:
        return
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in request.attributes)
    if request.raw[20:] != body or len(request.raw) != ((data[2] << 8) | data[3]):
        raise InvariantError("decoded attributes do not re-encode to the packet")
    check_request_authenticity(request, SECRET)
    check_request_authenticity(request, SECRET, require_message_authenticator=False)
    if request.user_password is not None:
        decrypt_pin(request.user_password, SECRET, request.authenticator)
    verify_chap_request(request, PIN)
    try:
        reply = encode_reply(request, c.Code.ACCESS_REJECT, SECRET)
    except EncodeError:
        return  # e.g. more Proxy-State than a reply can carry
    if not verify_reply(reply, request.authenticator, SECRET, request_code=request.code):
        raise InvariantError("our own reply does not verify")


# -- Dynamic Authorization replies (RFC 5176) ------------------------------------------

# The request every dynauth_reply input answers: a Disconnect-Request, identifier 7.
DYNAUTH_IDENTIFIER = 7
DYNAUTH_REQUEST = dynauth.encode_request(
    c.Code.DISCONNECT_REQUEST,
    DYNAUTH_IDENTIFIER,
    SECRET,
    dynauth.session_attributes(now=1_700_000_000, user_name=EMAIL, acct_session_id="1A2B"),
)
DYNAUTH_SIGNED = 0x01  # input octet 0: sign the rest as a reply (else: the rest is the datagram)
DYNAUTH_WITH_MA = 0x02  # with a Message-Authenticator (signed mode)
_DISCONNECT_ANSWERS = (c.Code.DISCONNECT_ACK, c.Code.DISCONNECT_NAK)


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def sign_dynauth_reply(code: int, attrs: list[Attribute], with_ma: bool) -> bytes:
    """A reply to DYNAUTH_REQUEST signed with hashlib/hmac alone (RFC 5176 3.4)."""
    authenticator = DYNAUTH_REQUEST[4:20]
    if with_ma:
        attrs = [*attrs, (c.MESSAGE_AUTHENTICATOR, bytes(16))]
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    header = bytes((code, DYNAUTH_IDENTIFIER)) + (20 + len(body)).to_bytes(2, "big")
    if with_ma:
        mac = hmac.new(SECRET, header + authenticator + body, "md5").digest()
        body = body[:-16] + mac
    return header + _md5(header + authenticator + body + SECRET) + body


def dynauth_reply(data: bytes) -> None:
    """inspect_response on an answer to DYNAUTH_REQUEST: raw, or signed from a structure.

    Layout: mode(1), then the datagram (raw) or code(1) attributes (signed; see
    :func:`tlv_attributes`). Invariants: never an exception; a raw datagram is
    accepted only when its Response Authenticator really verifies; a signed
    well-formed ACK/NAK is always accepted, with the first Error-Cause.
    """
    mode = data[0] if data else 0
    if not mode & DYNAUTH_SIGNED:
        packet = data[1:]
    else:
        # The signer owns the Message-Authenticator: a fuzzed one would just be wrong.
        attrs = [a for a in tlv_attributes(data[2:]) if a[0] != c.MESSAGE_AUTHENTICATOR]
        while attrs and 20 + 18 + sum(2 + len(v) for _, v in attrs) > c.MAX_PACKET_LENGTH:
            attrs.pop()
        packet = sign_dynauth_reply(
            data[1] if len(data) > 1 else 0, attrs, bool(mode & DYNAUTH_WITH_MA)
        )
    result = dynauth.inspect_response(
        packet,
        DYNAUTH_IDENTIFIER,
        DYNAUTH_REQUEST[4:20],
        SECRET,
        request_code=c.Code.DISCONNECT_REQUEST,
    )
    if isinstance(result, dynauth.DynAuthReply):
        length = (packet[2] << 8) | packet[3]
        raw = packet[:length]
        expected = _md5(raw[:4] + DYNAUTH_REQUEST[4:20] + raw[20:] + SECRET)
        if expected != raw[4:20] or result.code not in _DISCONNECT_ANSWERS:
            raise InvariantError("accepted a reply that is not signed for our request")
        causes = [v for t, v in result.attributes if t == c.ERROR_CAUSE]
        first = causes[0] if causes else b""
        if result.error_cause != (int.from_bytes(first, "big") if len(first) == 4 else None):
            raise InvariantError("error_cause is not the first Error-Cause")
        return
    if not mode & DYNAUTH_SIGNED or packet[0] not in _DISCONNECT_ANSWERS:
        return
    try:
        decode_request(packet)
    except ProtocolError:
        return  # e.g. a duplicated single-valued attribute: refused as malformed
    raise InvariantError(f"a well-formed signed reply was refused ({result})")


# -- the engine -----------------------------------------------------------------------

# Credential kinds of a structured Access-Request (input octet 1, modulo 8).
PAP_RIGHT, PAP_GUESS, CHAP_RIGHT, CHAP_GUESS, MSCHAP_RIGHT, MSCHAP_GUESS, EAP, BARE = range(8)
# Flags (input octet 2).
NO_MESSAGE_AUTHENTICATOR = 0x01
NO_USER_NAME = 0x02
STATUS_SERVER = 0x04
FILL = 0x40  # repeat the input's attributes until the packet is full (size limits)
STATION = 0x80  # add a Calling-Station-Id made from the authenticator (a burst varies it)
# Requests in mode 3's burst: past the EAP table (8) and a guessing budget (10).
FLOOD = 16
# Bits 4-5 pick the User-Name among USERS.


def build_request(data: bytes) -> bytes:
    """A correctly signed request from a structured input.

    Layout: mode(1) kind(1) flags(1) authenticator(16) pin(5) attributes (see
    :func:`tlv_attributes`). The signature is right, so the fuzzer gets past
    authentication into the decision; the PIN is the member's (``*_RIGHT``) or
    the input's five octets (``*_GUESS``).
    """
    reader = Reader(data)
    reader.byte()
    kind, flags = reader.byte() % 8, reader.byte()
    authenticator = reader.take(16)
    pin = PIN if kind in (PAP_RIGHT, CHAP_RIGHT, MSCHAP_RIGHT) else reader.take(5)
    user = USERS[(flags >> 4) % len(USERS)]
    attrs: list[Attribute] = [] if flags & NO_USER_NAME else [(c.USER_NAME, user.encode())]
    if kind in (PAP_RIGHT, PAP_GUESS):
        attrs.append((c.USER_PASSWORD, encrypt_password(pin, SECRET, authenticator)))
    elif kind in (CHAP_RIGHT, CHAP_GUESS):
        attrs.append((c.CHAP_PASSWORD, encode_chap_password(flags, pin, authenticator)))
    elif kind in (MSCHAP_RIGHT, MSCHAP_GUESS):
        # MS-CHAPv2 hashes the password as text: a guess made of digits, like any PIN.
        digits = bytes(0x30 + b % 10 for b in pin)
        attrs += mschap.mschapv2_request_attributes(
            user, digits, authenticator, authenticator[::-1]
        )
        attrs = [a for a in attrs if a[0] != c.USER_NAME or not flags & NO_USER_NAME]
    if flags & STATION:
        attrs.append((c.CALLING_STATION_ID, f"02-00-00-00-00-{authenticator[0]:02X}".encode()))
    extra = tlv_attributes(reader.rest())
    attrs += extra * (c.MAX_PACKET_LENGTH // 2 if flags & FILL and extra else 1)
    attrs = _fitting(attrs)
    while True:
        try:
            return _sign(flags, authenticator, attrs)
        except EncodeError:
            attrs.pop()  # over 4096 octets: keep what fits


def _fitting(attrs: list[Attribute]) -> list[Attribute]:
    """The leading attributes that fit one packet with a Message-Authenticator."""
    room = c.MAX_PACKET_LENGTH - c.HEADER_LENGTH - 18
    for count, (_, value) in enumerate(attrs):
        room -= 2 + len(value)
        if room < 0:
            return attrs[:count]
    return attrs


def _sign(flags: int, authenticator: bytes, attrs: list[Attribute]) -> bytes:
    if flags & STATUS_SERVER:
        return encode_status_server(
            SECRET, identifier=flags, attributes=attrs, authenticator=authenticator
        ).packet
    if not flags & NO_MESSAGE_AUTHENTICATOR:
        return encode_access_request(
            SECRET, identifier=flags, attributes=attrs, authenticator=authenticator
        ).packet
    # Without Message-Authenticator an Access-Request is not signed at all (RFC 2865 3).
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    length = c.HEADER_LENGTH + len(body)
    if length > c.MAX_PACKET_LENGTH:
        raise EncodeError("request longer than 4096 octets")
    return bytes((c.Code.ACCESS_REQUEST, flags, length >> 8, length & 0xFF)) + authenticator + body


def engine(data: bytes) -> None:
    """One datagram through a fresh engine: raw (modes 0, 1) or built and signed (2, 3).

    Invariants (see world.py): no exception, no internal_error, one canonical log
    line, no PIN in the log, replies verify, Access-Accept only with the PIN,
    EAP tables within bounds.
    """
    if not data:
        return
    mode = data[0] % 4
    target = World()
    if mode == 0:
        target.auth(data[1:])
    elif mode == 1:
        target.acct(data[1:])
    else:
        packet = build_request(data)
        target.auth(packet)
        if mode == 3:
            # The same datagram again: answered from the cache, no second decision.
            target.auth(packet)
            # Then a burst of the same request under fresh authenticators: repeated
            # guesses (guessing protection) and EAP starts (the session table's bounds).
            for burst in range(1, FLOOD):
                varied = bytearray(data.ljust(19, b"\x00"))
                varied[3] ^= burst
                target.auth(build_request(bytes(varied)))


# -- accounting: the record builder and the deferred answer -----------------------------

# Flags of the accounting target (input octet 0).
ACCT_RAW = 0x01  # the rest is a whole datagram (unsigned), for the record builder only
ACCT_STATUS = 0x02  # an Acct-Status-Type from octet 1 first
ACCT_SESSION = 0x04  # an Acct-Session-Id first
ACCT_KEPT = 0x08  # the sink keeps the record (else: it could not, no answer)
ACCT_MEMBER = 0x10  # the builder is told the member


def accounting(data: bytes) -> None:
    """Accounting-Requests into ``record_from_request`` and through the engine's deferral.

    Layout: flags(1) status(1) then a datagram (``ACCT_RAW``) or attributes (see
    :func:`tlv_attributes`) that are signed into an Accounting-Request.
    Invariants: the builder raises nothing but AccountingError; a record survives the
    spool's JSON line unchanged; the engine answers only through its sink, after
    ``done``, with a reply that verifies, in one ``accounting`` line; a record that
    was not kept gets no answer; a retransmission is never submitted twice.
    """
    reader = Reader(data)
    flags, status = reader.byte(), reader.byte()
    if flags & ACCT_RAW:
        packet = reader.rest()
    else:
        attrs: list[Attribute] = []
        if flags & ACCT_STATUS:
            attrs.append((c.ACCT_STATUS_TYPE, bytes((0, 0, 0, status % 10))))
        if flags & ACCT_SESSION:
            attrs.append((c.ACCT_SESSION_ID, b"fuzz-1"))
        attrs += tlv_attributes(reader.rest())
        attrs = _fitting(attrs)
        while True:
            try:
                packet = encode_accounting_request(
                    SECRET, identifier=flags, attributes=attrs
                ).packet
                break
            except EncodeError:
                attrs.pop()
    target = World()
    now = target.clock.now
    try:
        request = decode_request(packet)
    except ProtocolError:
        return
    member = (1, EMAIL) if flags & ACCT_MEMBER else None
    try:
        record: AccountingRecord | None = record_from_request(
            request, "ap", world.NAS[0], now, member
        )
    except AccountingError:
        record = None
    if record is not None and decode_line(encode_line(record)[:-1]) != record:
        raise InvariantError("a record does not survive the spool's line format")
    if flags & ACCT_RAW:
        return
    submitted: list[tuple[AccountingRecord, Callable[[str | None], None]]] = []
    sent: list[bytes] = []

    class Sink:
        def submit(self, record: AccountingRecord, done: Callable[[str | None], None]) -> None:
            submitted.append((record, done))

    target.engine.accounting = Sink()
    target.engine.send = lambda reply, address: sent.append(reply)
    if target.engine.handle_acct(packet, world.NAS) is not None:
        raise InvariantError("an Accounting-Request answered before its record was kept")
    if not submitted:
        # Refused (not authentic, not a record): the engine's usual invariants.
        world.check_events(target.log.events, packet)
        return
    built = submitted[0][0]
    # The engine resolves the member from its directory; the rest is the builder's record.
    if record is None or replace_member(built, record) != record:
        raise InvariantError("the engine built another record than the builder")
    if target.engine.handle_acct(packet, world.NAS) is not None or len(submitted) != 1:
        raise InvariantError("a retransmission was decided twice")
    if sent or target.log.named("accounting"):
        raise InvariantError("answered or logged before the record was kept")
    submitted[0][1]("spool" if flags & ACCT_KEPT else None)
    lines = target.log.named("accounting")
    if len(lines) != 1 or any(e.get("reason") == Reason.INTERNAL_ERROR.value for e in lines):
        raise InvariantError(f"expected one accounting line, got {lines}")
    if not flags & ACCT_KEPT:
        if sent:
            raise InvariantError("a record that was not kept was answered")
        return
    if len(sent) != 1 or not verify_reply(
        sent[0], request.authenticator, SECRET, request_code=request.code
    ):
        raise InvariantError("the deferred answer does not verify")
    if target.engine.handle_acct(packet, world.NAS) != (sent[0], 0.0):
        raise InvariantError("a retransmission after the answer did not get the same bytes")


def replace_member(record: AccountingRecord, like: AccountingRecord) -> AccountingRecord:
    """``record`` with ``like``'s member (the engine resolves it from the directory)."""
    return replace(record, customer_id=like.customer_id, member_email=like.member_email)


# -- whole EAP conversations, with one step tampered with --------------------------------

# Tampering kinds (input octet 1, bits 1-3).
CLEAN, INNER_PLAINTEXT, OUTER_REPLACE, OUTER_XOR, STATE_REPLACE, REPLAY = range(6)


def eap_session(data: bytes) -> None:
    """A real PEAP/TTLS peer talks to a fresh engine; the input tampers with one step.

    Layout: case(1) how(1) round(1) payload. ``case`` picks the method and TLS
    version; ``how`` bit 0 gives the peer the right PIN, bits 1-3 a tampering
    kind: the peer's phase-2 plaintext replaced inside the tunnel, the outer
    EAP-Message replaced or XORed, the State replaced, a request replayed.

    Invariants: the engine's, plus: never an Access-Accept with a wrong PIN, and
    an untampered conversation with the right PIN ends in Access-Accept.
    """
    from tests.fuzz.peer import run_conversation

    reader = Reader(data)
    case, how, at = reader.byte(), reader.byte(), reader.byte() % 24
    right, kind = bool(how & 1), (how >> 1) % 6
    accepted = run_conversation(case, right, kind, at, reader.rest())
    if accepted and not right:
        raise InvariantError("EAP Access-Accept with a wrong PIN")
    if right and kind == CLEAN and not accepted:
        raise InvariantError("an untampered conversation with the right PIN was not accepted")


# -- EAP packets and the TLS-over-EAP framing ------------------------------------------


def eap_framing(data: bytes) -> None:
    """decode_eap, decode_frame, Reassembly and Outgoing on fuzzed messages.

    Invariants: only EapError/FramingError; a decoded packet re-encodes to its
    bytes; reassembly never exceeds its limit; our fragments reassemble.
    """
    try:
        packet = codec.decode_eap(data)
    except EapError:
        packet = None
    if packet is not None:
        if packet.encode() != data:
            raise InvariantError("EAP packet does not re-encode to its bytes")
        codec.nak_types(packet.data)
    limit = 1024
    reassembly = Reassembly(limit)
    for message in chunks(data):
        try:
            frame = framing.decode_frame(message)
            whole = reassembly.add(frame)
        except FramingError:
            reassembly = Reassembly(limit)
            continue
        if whole is not None and len(whole) > limit:
            raise InvariantError("reassembled message over the limit")
    size = 1 + (data[0] if data else 0)
    outgoing, pieces, collected = Outgoing(data), 0, Reassembly(len(data) + 1)
    whole = None
    while not outgoing.done:
        whole = collected.add(framing.decode_frame(outgoing.next_fragment(0, size)))
        pieces += 1
        if pieces > len(data) + 1:
            raise InvariantError("fragmentation does not terminate")
    if whole != data:
        raise InvariantError("our fragments do not reassemble to the message")


# -- TLS records into the server's tunnel ----------------------------------------------


def tls_records(data: bytes) -> None:
    """Fuzzed TLS records into a fresh server tunnel (what PEAP/TTLS carry).

    Layout: records split by :func:`chunks`. Invariant: only TlsError.
    """
    tunnel = world.tls_server().new_tunnel()
    for records in chunks(data, limit=6):
        try:
            tunnel.receive(records)
            tunnel.take_output()
            if tunnel.established:
                tunnel.read()
                tunnel.write(b"\x01")
                tunnel.take_output()
        except TlsError:
            return


# -- phase 2: TTLS AVPs, PEAP inner EAP, EAP-MSCHAPv2 ------------------------------------


@dataclass
class Verifier:
    """A stand-in for the engine's verify: the member rules, recording what it decided."""

    decisions: list[Decision] = field(default_factory=list)

    def __call__(
        self, user_name: str, check: policy.PinCheck, offered: bytes | None = None
    ) -> tuple[Decision, Any]:
        member = world.member(user_name)
        decision, _, proof = policy.judge(member, check, world.FakeClock().now)
        if decision.outcome is Outcome.ACCEPT and check(PIN) is None:
            raise InvariantError("verify accepted a check that fails the PIN")
        self.decisions.append(decision)
        return decision, proof

    def refuse(self, user_name: str, reason: Reason) -> Decision:
        decision = policy.reject(reason, world.member(user_name))
        self.decisions.append(decision)
        return decision

    def allows(self, step: Step) -> None:
        """Invariant: a phase 2 accepts only after verify accepted."""
        if (
            isinstance(step, Finish)
            and step.decision.outcome is Outcome.ACCEPT
            and not any(d.outcome is Outcome.ACCEPT for d in self.decisions)
        ):
            raise InvariantError("phase 2 accepted without a verified PIN")


def _pin_inner(inner: EapMsChapV2Server | None) -> None:
    # The server draws its challenge at random; pinning it lets seeds carry a right answer.
    if inner is not None:
        inner._challenge = FIXED_CHALLENGE
        inner._ms_id = FIXED_MS_ID


def _run_phase2(
    phase2: PeapPhase2 | TtlsPhase2, data: bytes, before: Callable[[bytes], bytes]
) -> None:
    verify = Verifier()
    for message in chunks(data):
        _pin_inner(phase2._inner)
        try:
            step = phase2.on_data(before(message), verify, 1) if message else phase2.on_empty(1)
        except Phase2Error:
            return
        verify.allows(step)
        if isinstance(step, Finish):
            return


def ttls_avp(data: bytes) -> None:
    """decode_avps, then TTLS phase 2 over a sequence of AVP messages.

    Layout: messages split by :func:`chunks` (an empty one is an empty response).
    When the inner EAP Identifier is 0xFF it is replaced with the server's (which
    it draws at random), so the fuzzer reaches inner EAP-MSCHAPv2.
    Invariants: only AvpError/Phase2Error; decoded AVPs re-encode to the same AVPs;
    accept only after a verified PIN.
    """
    try:
        found = avps.decode_avps(data)
    except avps.AvpError:
        found = None
    if found is not None:
        again = b"".join(avps.encode_avp(a.code, a.data, a.vendor, a.mandatory) for a in found)
        if avps.decode_avps(again) != found:
            raise InvariantError("decoded AVPs do not survive re-encoding")
    phase2 = TtlsPhase2(lambda: FIXED_TTLS_IMPLICIT)

    def fix_identifier(message: bytes) -> bytes:
        return _with_inner_id(message, phase2._inner_id)

    _run_phase2(phase2, data, fix_identifier)


def _with_inner_id(message: bytes, inner_id: int) -> bytes:
    """Put the server's inner EAP Identifier into the first EAP-Message AVP marked 0xFF."""
    if len(message) > 9 and message[:4] == c.EAP_MESSAGE.to_bytes(4, "big") and message[9] == 0xFF:
        return message[:9] + bytes((inner_id,)) + message[10:]
    return message


def peap_phase2(data: bytes) -> None:
    """PEAPv0 phase 2 (inner EAP without header, EAP-TLV with) over a sequence of messages.

    Invariants: only Phase2Error; accept only after a verified PIN and a success Result TLV.
    """
    _run_phase2(PeapPhase2(), data, lambda message: message)


def mschapv2(data: bytes) -> None:
    """EAP-MSCHAPv2 type-data (the inner method of PEAP and TTLS) and MS-CHAP2-Response values.

    Layout: messages split by :func:`chunks`, fed to one server whose challenge
    is pinned. Invariants: only InnerError; accept only after a verified PIN.
    """
    mschap.parse_ms_chap2_response(data)
    server = EapMsChapV2Server("fuzz")
    _pin_inner(server)
    verify = Verifier()
    for message in chunks(data):
        try:
            step = server.receive(message, EMAIL, verify)
        except InnerError:
            return
        if isinstance(step, Finish):
            verify.allows(step)
            return


TARGETS: dict[str, Callable[[bytes], None]] = {
    "radius_decode": radius_decode,
    "engine": engine,
    "eap_session": eap_session,
    "eap_framing": eap_framing,
    "tls_records": tls_records,
    "ttls_avp": ttls_avp,
    "peap_phase2": peap_phase2,
    "mschapv2": mschapv2,
    "accounting": accounting,
    "dynauth_reply": dynauth_reply,
}

# Relative share of the short run's time: the deep, slow targets get more.
WEIGHTS = {
    "radius_decode": 1,
    "engine": 3,
    "eap_session": 3,
    "eap_framing": 1,
    "tls_records": 1,
    "ttls_avp": 1,
    "peap_phase2": 1,
    "mschapv2": 1,
    "accounting": 1,
    "dynauth_reply": 1,
}


def digest(data: bytes) -> str:
    """A short name for an input (the corpus file name)."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16]
