"""An in-process EAP peer (PEAPv0 and TTLS over pyOpenSSL) to drive the handler without I/O.

A helper module (the tests are in test_eap_peer.py, test_eap_sessions.py and
tests/integration/test_guessing_hardening.py).

Not a full supplicant: enough of one to walk every branch the server has
(Nak, fragments both ways, TLS 1.2 and 1.3, each inner method) in
milliseconds. ``eapol_test`` proves interoperability in tests/integration.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from OpenSSL import SSL

from radius_server.eap import avp as avps
from radius_server.eap.certificates import generate
from radius_server.eap.codec import EapCode, EapPacket, EapType, decode_eap, encode_eap
from radius_server.eap.framing import FLAG_START, Outgoing, Reassembly, decode_frame, encode_frame
from radius_server.eap.handler import EapHandler, EapOptions
from radius_server.eap.tls import TlsServer
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.attributes import eap_message_attributes
from radius_server.protocol.packet import RadiusRequest
from radius_server.runtime.engine import Engine
from tests.unit.eap_support import EMAIL, PIN, access_request, make_engine

CA_NAME = "radius.test.lan"


# (outer type, inner method, log label): every method the server offers.
CASES = [
    (EapType.PEAP, "mschapv2", "peap-mschapv2"),
    (EapType.TTLS, "pap", "ttls-pap"),
    (EapType.TTLS, "mschapv2", "ttls-mschapv2"),
    (EapType.TTLS, "eap", "ttls-eap-mschapv2"),
]


@dataclass
class Peer:
    """One supplicant conversation. ``inner``: pap | mschapv2 | eap (TTLS) or mschapv2 (PEAP)."""

    eap_type: int
    identity: str = EMAIL
    pin: bytes = PIN
    inner: str = "mschapv2"
    tls13: bool = True
    fragment: int = 200
    anonymous: str = "anonymous"
    ca_file: Path | None = None
    station: str = "02-00-00-00-00-01"
    conn: SSL.Connection | None = None
    outgoing: Outgoing | None = None
    reassembly: Reassembly = field(default_factory=lambda: Reassembly(1 << 20))
    phase2_sent: bool = False
    inner_challenge: bytes = b""
    inner_done: bool = False
    # Fast reconnect: the client context of an earlier conversation and its session.
    client_context: SSL.Context | None = None
    session: SSL.Session | None = None

    def identity_response(self, identifier: int = 1) -> bytes:
        """The first EAP-Response/Identity (outer, maybe anonymous)."""
        return encode_eap(EapCode.RESPONSE, identifier, EapType.IDENTITY, self.anonymous.encode())

    def _context(self) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        version = SSL.TLS1_3_VERSION if self.tls13 else SSL.TLS1_2_VERSION
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_max_proto_version(version)
        if self.ca_file is not None:
            ctx.load_verify_locations(str(self.ca_file))
            ctx.set_verify(SSL.VERIFY_PEER, lambda *args: bool(args[-1]))
        return ctx

    def answer(self, request: EapPacket) -> bytes:
        """The EAP-Response to one EAP-Request."""
        rid = request.identifier
        if request.type == EapType.IDENTITY:
            return self.identity_response(rid)
        if request.type != self.eap_type:
            return encode_eap(EapCode.RESPONSE, rid, EapType.NAK, bytes((self.eap_type,)))
        frame = decode_frame(request.data)
        if frame.flags & FLAG_START:
            self.conn = SSL.Connection(self.client_context or self._context(), None)
            self.conn.set_connect_state()
            if self.session is not None:
                self.conn.set_session(self.session)
            self._handshake()
            return self._send_records(rid)
        if self.outgoing is not None:
            assert frame.is_ack
            return self._fragment(rid)
        message = self.reassembly.add(frame)
        if message is None:
            return self._frame(rid, encode_frame(0))
        assert self.conn is not None
        if message:
            self.conn.bio_write(message)
        was_done = self._established()
        if not was_done:
            self._handshake()
            if not self._established():
                return self._send_records(rid)
        plain = self._read()
        reply = self._phase2(plain)
        if reply:
            self.conn.sendall(reply)
        return self._send_records(rid)

    def _established(self) -> bool:
        assert self.conn is not None
        return self.conn.get_state_string() == b"SSL negotiation finished successfully"

    def _handshake(self) -> None:
        assert self.conn is not None
        with contextlib.suppress(SSL.WantReadError):
            self.conn.do_handshake()

    def _read(self) -> bytes:
        assert self.conn is not None
        out = b""
        while True:
            try:
                out += self.conn.recv(65536)
            except (SSL.WantReadError, SSL.ZeroReturnError):
                return out

    def _phase2(self, plain: bytes) -> bytes:
        if self.eap_type == EapType.TTLS:
            return self._ttls(plain)
        return self._peap(plain) if plain else b""

    def _ttls(self, plain: bytes) -> bytes:
        name = self.identity.encode()
        if not self.phase2_sent:
            self.phase2_sent = True
            if self.inner == "pap":
                return avps.encode_avp(c.USER_NAME, name) + avps.encode_avp(
                    c.USER_PASSWORD, self.pin + bytes(-len(self.pin) % 16)
                )
            if self.inner == "mschapv2":
                assert self.conn is not None
                implicit = self.conn.export_keying_material(b"ttls challenge", 17)
                challenge, ident = implicit[:16], implicit[16]
                self.inner_challenge = secrets.token_bytes(16)
                value = mschap.ms_chap2_response_value(
                    ident, challenge, self.inner_challenge, name, self.pin
                )
                return (
                    avps.encode_avp(c.USER_NAME, name)
                    + avps.encode_avp(c.MS_CHAP_CHALLENGE, challenge, vendor=c.VENDOR_MICROSOFT)
                    + avps.encode_avp(c.MS_CHAP2_RESPONSE, value, vendor=c.VENDOR_MICROSOFT)
                )
            identity = encode_eap(EapCode.RESPONSE, 0, EapType.IDENTITY, name)
            return avps.encode_avp(c.EAP_MESSAGE, identity)
        if not plain:
            return b""
        found = avps.decode_avps(plain)
        if self.inner == "mschapv2":
            return b""  # MS-CHAP2-Success received: answer with an empty message
        inner = decode_eap(found[0].data)
        data = self._mschapv2(inner.data)
        return avps.encode_avp(
            c.EAP_MESSAGE, encode_eap(EapCode.RESPONSE, inner.identifier, EapType.MSCHAPV2, data)
        )

    def _peap(self, plain: bytes) -> bytes:
        if plain[:1] == bytes((EapCode.REQUEST,)) and len(plain) > 4 and plain[4] == EapType.TLV:
            # Result TLV: echo it back in a full EAP-TLV response.
            return encode_eap(EapCode.RESPONSE, plain[1], EapType.TLV, plain[5:])
        if plain[0] == EapType.IDENTITY:
            return bytes((EapType.IDENTITY,)) + self.identity.encode()
        assert plain[0] == EapType.MSCHAPV2
        return bytes((EapType.MSCHAPV2,)) + self._mschapv2(plain[1:])

    def _mschapv2(self, data: bytes) -> bytes:
        opcode, ms_id = data[0], data[1]
        if opcode == 1:
            challenge = data[5:21]
            self.inner_challenge = secrets.token_bytes(16)
            name = self.identity.encode()
            nt = mschap.generate_nt_response(challenge, self.inner_challenge, name, self.pin)
            value = self.inner_challenge + bytes(8) + nt + b"\x00"
            body = bytes((49,)) + value + name
            return bytes((2, ms_id)) + (4 + len(body)).to_bytes(2, "big") + body
        assert opcode == 3, opcode
        return b"\x03"

    def _send_records(self, rid: int) -> bytes:
        assert self.conn is not None
        out = b""
        while True:
            try:
                chunk = self.conn.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            out += chunk
        if not out:
            return self._frame(rid, encode_frame(0))
        self.outgoing = Outgoing(out)
        return self._fragment(rid)

    def _fragment(self, rid: int) -> bytes:
        assert self.outgoing is not None
        data = self.outgoing.next_fragment(0, self.fragment)
        if self.outgoing.done:
            self.outgoing = None
        return self._frame(rid, data)

    def _frame(self, rid: int, type_data: bytes) -> bytes:
        return encode_eap(EapCode.RESPONSE, rid, self.eap_type, type_data)

    def msk(self) -> bytes:
        """The MSK as the peer derives it."""
        assert self.conn is not None
        label = (
            b"client EAP encryption" if self.eap_type == EapType.PEAP else b"ttls keying material"
        )
        if self.conn.get_protocol_version_name() == "TLSv1.3":
            context = bytes((self.eap_type,))
            return self.conn.export_keying_material(b"EXPORTER_EAP_TLS_Key_Material", 128, context)[
                :64
            ]
        return self.conn.export_keying_material(label, 64)


@dataclass
class Outcome:
    """The end of a conversation."""

    reply: RadiusRequest
    authenticator: bytes
    rounds: int
    # The largest EAP-Request of the conversation, in octets.
    largest_request: int = 0


def eap_attributes(
    eap: bytes,
    state: bytes | None,
    user: str,
    station: str,
    proxy_states: Sequence[bytes] = (),
    framed_mtu: int | None = None,
) -> list:
    """Attributes of an Access-Request carrying one EAP-Response (and Proxy-States, last)."""
    attrs = [(c.USER_NAME, user.encode()), (c.CALLING_STATION_ID, station.encode())]
    if framed_mtu is not None:
        attrs.append((c.FRAMED_MTU, framed_mtu.to_bytes(4, "big")))
    if state is not None:
        attrs.append((c.STATE, state))
    return attrs + eap_message_attributes(eap) + [(c.PROXY_STATE, value) for value in proxy_states]


def converse(
    engine: Engine,
    peer: Peer,
    max_rounds: int = 80,
    proxy_states: Sequence[bytes] = (),
    framed_mtu: int | None = None,
) -> Outcome:
    """Run a whole conversation through the engine; return its final reply.

    Every request carries ``proxy_states`` (every reply must echo them, in order)
    and a Framed-MTU of ``framed_mtu`` when given.
    """
    from radius_server.protocol.packet import decode_request

    eap = peer.identity_response()
    state: bytes | None = None
    largest = 0
    for rounds in range(1, max_rounds + 1):
        packet, authenticator = access_request(
            eap_attributes(eap, state, peer.anonymous, peer.station, proxy_states, framed_mtu)
        )
        answer = engine.handle_auth(packet, ("127.0.0.1", 40000))
        assert answer is not None, "dropped"
        reply = decode_request(answer[0])
        assert reply.proxy_states == tuple(proxy_states)
        if reply.code != c.Code.ACCESS_CHALLENGE:
            return Outcome(reply, authenticator, rounds, largest)
        state = reply.state
        assert reply.eap_message is not None
        largest = max(largest, len(reply.eap_message))
        eap = peer.answer(decode_eap(reply.eap_message))
    raise AssertionError("conversation did not end")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory):
    """A generated CA and server certificate."""
    return generate(tmp_path_factory.mktemp("certs"), CA_NAME, "Test", dt.datetime.now(dt.UTC))


def eap_engine(certs, members=None, **options):
    """An engine with the EAP handler on the generated certificate."""
    tls = TlsServer(certs.server_cert, certs.server_key, certs.ca_cert)
    handler = EapHandler(tls, EapOptions(**options))
    engine, log = make_engine({"eap": handler}, members)
    return engine, log, handler
