"""The one method contract: every authentication method is a handler, chosen by name.

PAP, CHAP, MS-CHAPv2 (``eap/plain_mschap.py``) and EAP (``eap/handler.py``) all
implement ``MethodHandler``; the engine picks one by ``method_name(request)``
from its registry (``builtin_methods()`` plus what ``eap/setup.py`` builds). A
handler proves a PIN only through the ``Verify`` it is given: the engine's one
judgement (member rules, stale PIN, guessing protection), so every method, PAP
to PEAP, follows the same rules. The PIN check a handler passes returns the
method's proof (``policy.PinCheck``), which ``verify`` hands back with an accept.
Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from radius_server.protocol import codes as c
from radius_server.protocol.chap import verify_chap_request
from radius_server.protocol.packet import RadiusRequest
from radius_server.protocol.pap import decrypt_pin
from radius_server.rules import policy
from radius_server.rules.decision import Decision, Reason
from radius_server.rules.directory import Client


class Verify(Protocol):
    """The engine's judgement, bound to the request being handled (its client and stations).

    Valid only inside the handler's ``handle`` call.
    """

    def __call__(
        self, user_name: str, check: policy.PinCheck, offered: bytes | None = None
    ) -> tuple[Decision, Any]:
        """Judge ``user_name``'s PIN with ``check``: (decision, proof).

        The proof is what ``check`` returned for the right PIN, only with an
        accept; otherwise None. ``offered`` is the PIN itself when the method
        reveals it (PAP, TTLS-PAP), so guessing protection counts only distinct
        wrong PINs.
        """
        ...

    def refuse(self, user_name: str, reason: Reason) -> Decision:
        """A reject no PIN check produced (e.g. bad_pin_format), naming the member if known."""
        ...


class MethodResult(NamedTuple):
    """What a method handler returns to the engine (a named tuple: one per request)."""

    decision: Decision
    # Finer label for the log line, e.g. "peap-mschapv2", "ttls-pap", "mschapv2";
    # None keeps the registry name ("pap", "chap").
    method: str | None = None
    # Extra detail for the log line (outer identity, EAP stage...); never a secret.
    detail: str | None = None


_result = tuple.__new__


class MethodHandler(Protocol):
    """An authentication method."""

    def handle(
        self, request: RadiusRequest, client: Client, verify: Verify, now: float
    ) -> MethodResult:
        """Decide one request; ``now`` is monotonic seconds (for session expiry)."""
        ...


def method_name(request: RadiusRequest) -> str:
    """The registry name of the method a request uses (``pap``, ``chap``, ``eap``, ``mschap``)."""
    if request.user_password is not None:
        return "pap"
    if request.chap_password is not None:
        return "chap"
    if request.eap_message is not None:
        return "eap"
    if request.vendor_attributes:
        return (
            "mschap"
            if any(v == c.VENDOR_MICROSOFT for v, _, _ in request.vendor_attributes)
            else "unknown"
        )
    return "none"


class PapMethod:
    """PAP (RFC 2865 5.2): the PIN decrypted to bytes, compared in constant time."""

    def handle(
        self, request: RadiusRequest, client: Client, verify: Verify, now: float
    ) -> MethodResult:
        """Decrypt User-Password and judge it."""
        assert request.user_name is not None  # the engine answers requests without one
        offered = decrypt_pin(request.user_password, client.secret, request.authenticator)
        if offered is None:
            # Not 5 digits: a typo, or a wrong shared secret (noise after
            # decryption). It cannot match any PIN, so it is no guess to count.
            return MethodResult(verify.refuse(request.user_name, Reason.BAD_PIN_FORMAT))
        decision = verify(request.user_name, policy.pap_check(offered), offered)[0]
        return _result(MethodResult, (decision, None, None))  # MethodResult(decision), faster


class ChapMethod:
    """CHAP (RFC 2865 5.3, RFC 1994): each candidate PIN hashed with the challenge."""

    def handle(
        self, request: RadiusRequest, client: Client, verify: Verify, now: float
    ) -> MethodResult:
        """Judge CHAP-Password against the stored PIN."""
        assert request.user_name is not None  # the engine answers requests without one

        def check(pin: bytes) -> bool | None:
            return policy.PROVEN if verify_chap_request(request, pin) else None

        return MethodResult(verify(request.user_name, check)[0])


def builtin_methods() -> dict[str, MethodHandler]:
    """The methods every server speaks; ``eap/setup.py`` adds MS-CHAPv2 and EAP."""
    return {"pap": PapMethod(), "chap": ChapMethod()}
