"""Plain (non-EAP) MS-CHAPv2 over RADIUS, for captive portals and VPN gateways.

RFC 2548 attributes: the NAS sends MS-CHAP-Challenge and MS-CHAP2-Response
(2.3.2); we answer Access-Accept with MS-CHAP2-Success (2.3.3) and the
MS-MPPE keys of RFC 3079 (RFC 2548 2.4.2, 2.4.3), or Access-Reject with
MS-CHAP-Error "E=691" (RFC 2759 6). The PIN itself is judged by the engine's shared
``verify``: we only say how to test a candidate PIN.
"""

from __future__ import annotations

import secrets
import struct

from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.attributes import ms_mppe_key_attributes, vendor_attribute
from radius_server.protocol.packet import Attribute, RadiusRequest
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.rules.directory import Client
from radius_server.rules.methods import MethodResult, Verify

LABEL = "mschapv2"
# RFC 2548 2.4.4 / 2.4.5: encryption allowed (1); 40- and 128-bit RC4 (0x6).
_ENCRYPTION_POLICY_ALLOWED = 1
_ENCRYPTION_TYPES_RC4_40_128 = 6


def _ms(vendor_type: int, value: bytes) -> Attribute:
    return vendor_attribute(c.VENDOR_MICROSOFT, vendor_type, value)


def mppe_attributes(
    send_key: bytes, recv_key: bytes, secret: bytes, request_authenticator: bytes
) -> list[Attribute]:
    """Encryption policy, types and the two salt-encrypted MPPE keys (RFC 2548 2.4)."""
    return [
        _ms(c.MS_MPPE_ENCRYPTION_POLICY, struct.pack("!I", _ENCRYPTION_POLICY_ALLOWED)),
        _ms(c.MS_MPPE_ENCRYPTION_TYPES, struct.pack("!I", _ENCRYPTION_TYPES_RC4_40_128)),
        *ms_mppe_key_attributes(send_key, recv_key, secret, request_authenticator),
    ]


class PlainMsChapHandler:
    """The engine's "mschap" method: MS-CHAPv2 carried in Microsoft VSAs."""

    def handle(
        self, request: RadiusRequest, client: Client, verify: Verify, now: float
    ) -> MethodResult:
        """Check MS-CHAP2-Response against MS-CHAP-Challenge with the shared PIN path."""
        challenge = request.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP_CHALLENGE)
        raw_response = request.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP2_RESPONSE)
        if raw_response is None or challenge is None:
            # MS-CHAPv1 (MS-CHAP-Response) or a stray VSA: not something we speak.
            return MethodResult(Decision(Outcome.REJECT, Reason.UNSUPPORTED_METHOD), method=LABEL)
        response = mschap.parse_ms_chap2_response(raw_response)
        if response is None or len(challenge) != mschap.CHALLENGE_LENGTH:
            return MethodResult(
                Decision(Outcome.REJECT, Reason.MALFORMED), method=LABEL, detail="bad_ms_chap2"
            )
        assert request.user_name is not None  # the engine drops requests without one
        name = request.user_name.encode("utf-8")
        check = mschap.pin_check(challenge, response.peer_challenge, response.nt_response, name)
        decision, proof = verify(request.user_name, check)
        if proof is not None:
            extra = [
                _ms(c.MS_CHAP2_SUCCESS, bytes((response.ident,)) + proof.authenticator_response),
                *mppe_attributes(
                    proof.send_key, proof.recv_key, client.secret, request.authenticator
                ),
            ]
            return MethodResult(_with(decision, extra), method=LABEL)
        if decision.outcome is Outcome.REJECT:
            error = mschap.failure_message(response.ident, secrets.token_bytes(16))
            return MethodResult(_with(decision, [_ms(c.MS_CHAP_ERROR, error)]), method=LABEL)
        return MethodResult(decision, method=LABEL)


def _with(decision: Decision, extra: list[Attribute]) -> Decision:
    return decision.replace(attributes=(*decision.attributes, *extra))
