"""Server side of EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2-02), the inner method.

Type-Data layout: OpCode(1) MS-CHAPv2-ID(1) MS-Length(2) then, by OpCode:
Challenge (1): Value-Size(1)=16, Challenge(16), Name;
Response (2): Value-Size(1)=49, Peer-Challenge(16) Reserved(8) NT-Response(24) Flags(1), Name;
Success (3): request "S=<40 hex> M=<message>", response OpCode alone;
Failure (4): request "E=691 R=0 C=... V=3 M=...", response OpCode alone.
MS-Length is the EAP Length minus 5 (the EAP header and Type).
"""

from __future__ import annotations

import secrets

from radius_server.eap.steps import Finish, Send, Step
from radius_server.protocol import mschap
from radius_server.rules.decision import Decision
from radius_server.rules.methods import Verify

OP_CHALLENGE = 1
OP_RESPONSE = 2
OP_SUCCESS = 3
OP_FAILURE = 4
_RESPONSE_VALUE_SIZE = 49
_SERVER_NAME = b"radius-server"


class InnerError(ValueError):
    """The peer broke the inner method's rules; the message names the fault."""


def _header(opcode: int, ms_id: int, body: bytes) -> bytes:
    # MS-Length covers OpCode through the end: EAP Length - 5.
    return bytes((opcode, ms_id)) + (4 + len(body)).to_bytes(2, "big") + body


class EapMsChapV2Server:
    """One EAP-MSCHAPv2 exchange: Challenge, Response, Success, Success-ack."""

    __slots__ = ("_challenge", "_decision", "_label", "_ms_id", "_stage")

    def __init__(self, label: str) -> None:
        self._label = label
        self._challenge = secrets.token_bytes(mschap.CHALLENGE_LENGTH)
        self._ms_id = secrets.randbelow(256)
        self._stage = "challenge"
        self._decision: Decision | None = None

    def challenge(self) -> bytes:
        """Type-Data of the Challenge request."""
        body = bytes((mschap.CHALLENGE_LENGTH,)) + self._challenge + _SERVER_NAME
        return _header(OP_CHALLENGE, self._ms_id, body)

    def receive(self, type_data: bytes, identity: str, verify: Verify) -> Step:
        """Handle the peer's Type-Data; ``identity`` is the inner identity (the member's email).

        Raises:
            InnerError: wrong OpCode for the stage, wrong MS-CHAPv2-ID, bad sizes.
        """
        if not type_data:
            raise InnerError("empty EAP-MSCHAPv2 response")
        opcode = type_data[0]
        if self._stage == "challenge" and opcode == OP_RESPONSE:
            return self._response(type_data, identity, verify)
        if self._stage == "success" and opcode == OP_SUCCESS:
            assert self._decision is not None
            self._stage = "done"
            return Finish(self._decision)
        raise InnerError(f"unexpected EAP-MSCHAPv2 opcode {opcode} at {self._stage}")

    def _response(self, data: bytes, identity: str, verify: Verify) -> Step:
        if len(data) < 5 + _RESPONSE_VALUE_SIZE or data[4] != _RESPONSE_VALUE_SIZE:
            raise InnerError("EAP-MSCHAPv2 response too short")
        if data[1] != self._ms_id:
            raise InnerError("EAP-MSCHAPv2 response to another challenge")
        value = data[5 : 5 + _RESPONSE_VALUE_SIZE]
        peer_challenge, nt_response = value[:16], value[24:48]
        # The hash covers the name the peer put in its response (RFC 2759 8.2).
        name = data[5 + _RESPONSE_VALUE_SIZE :]
        check = mschap.pin_check(self._challenge, peer_challenge, nt_response, name)
        decision, proof = verify(identity, check)
        if proof is None:
            # An immediate failure: the outer EAP-Failure follows. No retry (R=0 semantics).
            self._stage = "done"
            return Finish(decision)
        self._decision = decision
        self._stage = "success"
        success = proof.authenticator_response + b" M=Welcome"
        return Send(_header(OP_SUCCESS, self._ms_id, success))
