"""What a phase-2 (inside the tunnel) state machine answers, shared by PEAP and TTLS."""

from __future__ import annotations

from dataclasses import dataclass

from radius_server.decision import Decision, Outcome, Reason


@dataclass(frozen=True, slots=True)
class Reply:
    """Encrypt ``plaintext`` and send it; b"" sends an empty request (a nudge)."""

    plaintext: bytes


@dataclass(frozen=True, slots=True)
class Finish:
    """The conversation ends: accept (with keys) or reject, per the decision."""

    decision: Decision


Phase2Step = Reply | Finish


class Phase2Error(ValueError):
    """The peer broke the phase-2 rules; the message names the fault, never data."""


def refuse(reason: Reason) -> Finish:
    """End with a reject that no PIN check produced (no common method, protocol error)."""
    return Finish(Decision(Outcome.REJECT, reason))
