"""PEAPv0 phase 2: inner EAP-MSCHAPv2 and the EAP-TLV result (draft-josefsson-pppext-eap-tls-eap).

In PEAPv0 the inner EAP packets travel without their 4-byte header, except
EAP-TLV (type 33), which keeps it (MS-PEAP 3.1.5.6). The
sequence after the tunnel opens:

    Identity request -> identity (the member's email)
    EAP-MSCHAPv2 Challenge -> Response (PIN checked here, once) -> Success -> ack
    EAP-TLV Result(success) -> echo -> outer EAP-Success with the keys
"""

from __future__ import annotations

from radius_server.eap.codec import EapCode, EapType, encode_eap
from radius_server.eap.eap_mschapv2 import EapMsChapV2Server, InnerError
from radius_server.eap.steps import Finish, Phase2Error, Send, Step, refuse
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.rules.methods import Verify

LABEL = "peap-mschapv2"
# PEAPv0 MSK label under TLS 1.2 (same PRF label as EAP-TLS, RFC 5216 2.3).
TLS12_KEY_LABEL = b"client EAP encryption"

# EAP-TLV Result TLV (MS-PEAP 2.2.8.1): M bit + type 3, length 2, status.
_RESULT_TLV = 0x0003
_TLV_MANDATORY = 0x8000
_TLV_TYPE_MASK = 0x3FFF
_RESULT_SUCCESS = 1
MAX_IDENTITY = 253


def result_tlv(status: int) -> bytes:
    """A Result TLV."""
    return (
        (_TLV_MANDATORY | _RESULT_TLV).to_bytes(2, "big") + b"\x00\x02" + status.to_bytes(2, "big")
    )


def _result_of(tlvs: bytes) -> int | None:
    """The status of the Result TLV, or None when there is none."""
    pos = 0
    while pos + 4 <= len(tlvs):
        tlv_type = int.from_bytes(tlvs[pos : pos + 2], "big") & _TLV_TYPE_MASK
        length = int.from_bytes(tlvs[pos + 2 : pos + 4], "big")
        value = tlvs[pos + 4 : pos + 4 + length]
        if tlv_type == _RESULT_TLV and len(value) == 2:
            return int.from_bytes(value, "big")
        pos += 4 + length
    return None


def split_inner(plaintext: bytes) -> tuple[int, bytes]:
    """(type, type-data) of an inner PEAPv0 response: a full EAP-TLV packet, else headerless."""
    if (
        len(plaintext) >= 5
        and plaintext[0] == EapCode.RESPONSE
        and int.from_bytes(plaintext[2:4], "big") == len(plaintext)
        and plaintext[4] == EapType.TLV
    ):
        return EapType.TLV, plaintext[5:]
    if not plaintext:
        raise Phase2Error("empty inner EAP packet")
    return plaintext[0], plaintext[1:]


class PeapPhase2:
    """The inner conversation of one PEAPv0 authentication."""

    __slots__ = ("_decision", "_inner", "_stage", "identity")

    label = LABEL

    def __init__(self) -> None:
        self._stage = "open"
        self.identity: str | None = None
        self._inner: EapMsChapV2Server | None = None
        self._decision: Decision | None = None

    def on_empty(self, next_id: int) -> Step:
        """The peer acknowledged our Finished (TLS 1.2) or finished the handshake (TLS 1.3)."""
        if self._stage != "open":
            raise Phase2Error(f"empty PEAP response at {self._stage}")
        # Under TLS 1.2 the Identity request must not ride on our Finished (docs/architecture.md):
        # it is sent here, in answer to the peer's empty acknowledgement.
        self._stage = "identity"
        return Send(bytes((EapType.IDENTITY,)))

    def on_data(self, plaintext: bytes, verify: Verify, next_id: int) -> Step:
        """Handle one decrypted inner response."""
        eap_type, data = split_inner(plaintext)
        if self._stage == "open":
            # A peer may speak first after TLS 1.3; only an identity makes sense then.
            self._stage = "identity"
        if eap_type == EapType.NAK:
            return refuse(Reason.EAP_NO_COMMON_METHOD)
        if self._stage == "identity":
            return self._on_identity(eap_type, data)
        if self._stage == "mschapv2" and eap_type == EapType.MSCHAPV2:
            assert self._inner is not None and self.identity is not None
            try:
                step = self._inner.receive(data, self.identity, verify)
            except InnerError as exc:
                raise Phase2Error(str(exc)) from None
            if isinstance(step, Finish):
                if step.decision.outcome is not Outcome.ACCEPT:
                    return Finish(step.decision)
                # MS-PEAP 3.2.5.6: close with a Result TLV inside the tunnel first.
                self._decision = step.decision
                self._stage = "result"
                tlv = encode_eap(EapCode.REQUEST, next_id, EapType.TLV, result_tlv(_RESULT_SUCCESS))
                return Send(tlv)
            return Send(bytes((EapType.MSCHAPV2,)) + step.data)
        if self._stage == "result" and eap_type == EapType.TLV:
            assert self._decision is not None
            if _result_of(data) == _RESULT_SUCCESS:
                return Finish(self._decision)
            return refuse(Reason.EAP_PROTOCOL_ERROR)
        raise Phase2Error(f"unexpected inner EAP type {eap_type} at {self._stage}")

    def on_resumed(self, decision: Decision, identity: str, next_id: int) -> Step:
        """Fast reconnect (MS-PEAP 3.3.7.1 step 6): the Result TLV at once, no MS-CHAPv2.

        The peer answers with its own Result TLV, as after MS-CHAPv2, and the keys come
        from the resumed TLS session.
        """
        self.identity = identity
        self._decision = decision
        self._stage = "result"
        return Send(encode_eap(EapCode.REQUEST, next_id, EapType.TLV, result_tlv(_RESULT_SUCCESS)))

    def on_unbound(self) -> Step | None:
        """No fast reconnect: MS-PEAP 3.3.7.1 step 2, the inner method runs (None)."""
        return None

    def _on_identity(self, eap_type: int, data: bytes) -> Step:
        if eap_type != EapType.IDENTITY:
            raise Phase2Error("inner response is not an identity")
        try:
            identity = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise Phase2Error("inner identity is not UTF-8") from None
        if not identity or len(identity) > MAX_IDENTITY:
            raise Phase2Error("inner identity empty or too long")
        self.identity = identity
        self._inner = EapMsChapV2Server(LABEL)
        self._stage = "mschapv2"
        return Send(bytes((EapType.MSCHAPV2,)) + self._inner.challenge())
