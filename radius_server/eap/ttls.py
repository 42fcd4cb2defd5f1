"""EAP-TTLSv0 phase 2 (RFC 5281): inner PAP, MS-CHAPv2 and EAP-MSCHAPv2 over AVPs.

The peer speaks first inside the tunnel (RFC 5281 7.2), with RADIUS attributes
as AVPs (RFC 5281 10.2):

- PAP (11.2.5): User-Name + User-Password (NUL-padded); one round.
- MS-CHAPv2 (11.2.4): User-Name + MS-CHAP-Challenge + MS-CHAP2-Response; the
  challenge is not chosen by us but derived from the TLS session
  (``ttls challenge``, 17 octets: 16 of challenge, then the ident), so we check
  it; we answer MS-CHAP2-Success and accept after the peer's empty reply.
- EAP (11.1): EAP-Message AVPs, first an Identity response, then EAP-MSCHAPv2.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from radius_server.eap.avp import Avp, AvpError, decode_avps, encode_avp
from radius_server.eap.codec import EapCode, EapError, EapType, decode_eap, encode_eap
from radius_server.eap.eap_mschapv2 import EapMsChapV2Server, InnerError
from radius_server.eap.steps import Finish, Phase2Error, Send, Step, refuse
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.pap import PIN_LENGTH
from radius_server.rules import policy
from radius_server.rules.decision import Decision, Reason
from radius_server.rules.methods import Verify

LABEL = "ttls"
TLS12_KEY_LABEL = b"ttls keying material"  # RFC 5281 8
CHALLENGE_LABEL = b"ttls challenge"  # RFC 5281 11.1
MAX_IDENTITY = 253
# AVPs we understand; any other AVP with M set fails the conversation (RFC 5281 10.1).
_KNOWN = {
    (0, c.USER_NAME),
    (0, c.USER_PASSWORD),
    (0, c.EAP_MESSAGE),
    (c.VENDOR_MICROSOFT, c.MS_CHAP_CHALLENGE),
    (c.VENDOR_MICROSOFT, c.MS_CHAP2_RESPONSE),
}


def _text(value: bytes, what: str) -> str:
    try:
        text = value.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Phase2Error(f"{what} is not UTF-8") from None
    if not text or len(text) > MAX_IDENTITY:
        raise Phase2Error(f"{what} empty or too long")
    return text


class TtlsPhase2:
    """The inner conversation of one EAP-TTLS authentication."""

    __slots__ = ("_challenge", "_decision", "_inner", "_inner_id", "_stage", "identity", "label")

    def __init__(self, challenge: Callable[[], bytes]) -> None:
        # Called only for inner MS-CHAPv2: the keying-material export of the session.
        self._challenge = challenge
        self._stage = "start"
        self.label = LABEL
        self.identity: str | None = None
        self._decision: Decision | None = None
        self._inner: EapMsChapV2Server | None = None
        self._inner_id = 0

    def on_empty(self, next_id: int) -> Step:
        """An empty response: the handshake just ended, or the MS-CHAP2-Success ack."""
        if self._stage == "start":
            # TLS 1.3: the peer finished the handshake without data; invite phase 2.
            self._stage = "invited"
            return Send(b"")
        if self._stage == "mschapv2_ack":
            assert self._decision is not None
            return Finish(self._decision)
        raise Phase2Error(f"empty TTLS response at {self._stage}")

    def on_data(self, plaintext: bytes, verify: Verify, next_id: int) -> Step:
        """Handle one decrypted message of AVPs."""
        try:
            avps = decode_avps(plaintext)
        except AvpError as exc:
            raise Phase2Error(str(exc)) from None
        for avp in avps:
            if avp.mandatory and (avp.vendor, avp.code) not in _KNOWN:
                raise Phase2Error(f"unsupported mandatory AVP {avp.vendor}:{avp.code}")
        if self._stage in ("start", "invited"):
            return self._first(avps, verify)
        if self._stage == "eap":
            return self._inner_eap(avps, verify)
        if self._stage == "mschapv2_ack" and not avps:
            assert self._decision is not None
            return Finish(self._decision)
        raise Phase2Error(f"unexpected TTLS data at {self._stage}")

    def on_resumed(self, decision: Decision, identity: str, next_id: int) -> Step:
        """Fast reconnect (RFC 5281, Session Resumption): no phase 2, accept at once."""
        self.identity = identity
        return Finish(decision)

    def on_unbound(self) -> Step | None:
        """No fast reconnect, and no inner method to fall back on: refuse.

        A TTLS supplicant that resumed its session takes any empty request as "phase 2
        skipped" (RFC 5281, Session Resumption) and never offers its credentials again
        in this conversation. Refused, it forgets the session and its next attempt is
        a full handshake.
        """
        return refuse(Reason.EAP_RESUMPTION_EXPIRED)

    def _first(self, avps: list[Avp], verify: Verify) -> Step:
        found = {(a.vendor, a.code): a.data for a in avps}
        if (0, c.EAP_MESSAGE) in found:
            return self._inner_identity(avps)
        user = found.get((0, c.USER_NAME))
        if user is None:
            raise Phase2Error("no User-Name AVP")
        self.identity = _text(user, "User-Name AVP")
        if (0, c.USER_PASSWORD) in found:
            self.label = "ttls-pap"
            # RFC 5281 11.2.5: the password is padded with NULs to a multiple of 16.
            offered = found[(0, c.USER_PASSWORD)].rstrip(b"\x00")
            if len(offered) != PIN_LENGTH or not offered.isdigit():
                # As with RADIUS PAP: no PIN has this shape, so it is no guess to count.
                return refuse(Reason.BAD_PIN_FORMAT)
            return Finish(verify(self.identity, policy.pap_check(offered), offered)[0])
        challenge = found.get((c.VENDOR_MICROSOFT, c.MS_CHAP_CHALLENGE))
        response = found.get((c.VENDOR_MICROSOFT, c.MS_CHAP2_RESPONSE))
        if challenge is not None and response is not None:
            self.label = "ttls-mschapv2"
            return self._mschapv2(user, challenge, response, verify)
        return refuse(Reason.UNSUPPORTED_METHOD)

    def _mschapv2(self, user: bytes, challenge: bytes, raw: bytes, verify: Verify) -> Step:
        parsed = mschap.parse_ms_chap2_response(raw)
        if parsed is None:
            raise Phase2Error("bad MS-CHAP2-Response AVP")
        # RFC 5281 11.2.4: challenge and ident must be the ones both sides derived.
        expected = self._challenge()
        if not (hmac.compare_digest(expected[:16], challenge) and parsed.ident == expected[16]):
            raise Phase2Error("MS-CHAP-Challenge is not the implicit challenge")
        check = mschap.pin_check(challenge, parsed.peer_challenge, parsed.nt_response, user)
        assert self.identity is not None
        decision, proof = verify(self.identity, check)
        if proof is None:
            return Finish(decision)
        self._decision = decision
        self._stage = "mschapv2_ack"
        success = bytes((parsed.ident,)) + proof.authenticator_response
        return Send(encode_avp(c.MS_CHAP2_SUCCESS, success, vendor=c.VENDOR_MICROSOFT))

    def _eap_packet(self, avps: list[Avp]) -> tuple[int, int | None, bytes]:
        # RFC 5281 11.1: one EAP packet, possibly split over several EAP-Message AVPs.
        joined = b"".join(a.data for a in avps if a.vendor == 0 and a.code == c.EAP_MESSAGE)
        try:
            packet = decode_eap(joined)
        except EapError as exc:
            raise Phase2Error(str(exc)) from None
        if packet.code != EapCode.RESPONSE:
            raise Phase2Error("inner EAP packet is not a response")
        return packet.identifier, packet.type, packet.data

    def _inner_identity(self, avps: list[Avp]) -> Step:
        _, eap_type, data = self._eap_packet(avps)
        if eap_type != EapType.IDENTITY:
            raise Phase2Error("inner EAP does not start with an identity")
        self.identity = _text(data, "inner identity")
        self.label = "ttls-eap-mschapv2"
        self._inner = EapMsChapV2Server(self.label)
        self._stage = "eap"
        return self._send_inner(self._inner.challenge())

    def _send_inner(self, type_data: bytes) -> Send:
        self._inner_id = secrets.randbelow(256)
        packet = encode_eap(EapCode.REQUEST, self._inner_id, EapType.MSCHAPV2, type_data)
        return Send(encode_avp(c.EAP_MESSAGE, packet))

    def _inner_eap(self, avps: list[Avp], verify: Verify) -> Step:
        identifier, eap_type, data = self._eap_packet(avps)
        if identifier != self._inner_id:
            raise Phase2Error("inner EAP identifier mismatch")
        if eap_type == EapType.NAK:
            return refuse(Reason.EAP_NO_COMMON_METHOD)
        if eap_type != EapType.MSCHAPV2:
            raise Phase2Error("inner EAP method is not MSCHAPv2")
        assert self._inner is not None and self.identity is not None
        try:
            step = self._inner.receive(data, self.identity, verify)
        except InnerError as exc:
            raise Phase2Error(str(exc)) from None
        if isinstance(step, Finish):
            return Finish(step.decision)
        return self._send_inner(step.data)
