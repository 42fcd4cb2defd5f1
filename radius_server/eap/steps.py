"""The one step type of every EAP layer: send something to the peer, or finish.

The outer conversation (TLS fragments as Type-Data), the phase-2 machines of
PEAP and TTLS (plaintext for the tunnel) and the inner EAP-MSCHAPv2 method
(its Type-Data) all answer ``Send`` or ``Finish``; each layer wraps what the
one inside it sends in its own framing.
"""

from __future__ import annotations

from typing import NamedTuple

from radius_server.rules.decision import Decision, Outcome, Reason


class Send(NamedTuple):
    """Send ``data`` in this layer's framing; b"" in the tunnel sends an empty request (a nudge).

    Named tuples, not frozen dataclasses: each round makes one or two steps, and a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``.
    """

    data: bytes


class Finish(NamedTuple):
    """The layer ends: accept or reject, per the decision; ``msk`` only for an outer accept."""

    decision: Decision
    msk: bytes | None = None


Step = Send | Finish


class Phase2Error(ValueError):
    """The peer broke the phase-2 rules; the message names the fault, never data."""


def refuse(reason: Reason) -> Finish:
    """End with a reject that no PIN check produced (no common method, protocol error)."""
    return Finish(Decision(Outcome.REJECT, reason))
