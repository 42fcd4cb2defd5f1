"""Types shared by the engine and its pluggable methods (EAP, MS-CHAP): pure, no I/O.

A method handler gets a ``Verify`` callable: the engine's one place where a
PIN is judged (member rules and guessing protection), so every method, PAP to
PEAP, follows the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from radius_server import policy
from radius_server.decision import Decision
from radius_server.directory import Client
from radius_server.protocol.packet import RadiusRequest


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is trying, from where, and how: what guessing protection counts by."""

    method: str  # pap | chap | mschap | eap-peap | eap-ttls-pap ...
    calling_station: str | None
    client: Client
    # The PIN offered, when the method reveals it (PAP): only distinct wrong
    # PINs then count against the budgets. None: every failure counts.
    offered: bytes | None = None
    # Called-Station-Id (the access point, written by the NAS): the location budget.
    called_station: str | None = None


class Verify(Protocol):
    """The engine's verify_credentials, bound to one request's client and calling station.

    ``offered`` is the PIN itself when the method reveals it (TTLS-PAP), so
    guessing protection counts only distinct wrong PINs.
    """

    def __call__(
        self, user_name: str, check: policy.PinCheck, method: str, offered: bytes | None = None
    ) -> Decision: ...


@dataclass(frozen=True, slots=True)
class MethodResult:
    """What a method handler (EAP, MS-CHAP) returns to the engine."""

    decision: Decision
    # Finer label for the log line, e.g. "peap-mschapv2", "ttls-pap", "mschapv2".
    method: str | None = None
    # Extra detail for the log line (outer identity, EAP stage...); never a secret.
    detail: str | None = None


class MethodHandler(Protocol):
    """A pluggable authentication method for requests PAP/CHAP do not cover."""

    def handle(
        self, request: RadiusRequest, client: Client, verify: Verify, now: float
    ) -> MethodResult:
        """Decide one request; ``now`` is monotonic seconds (for session expiry)."""
        ...
