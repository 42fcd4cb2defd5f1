"""Pure judging: (member, guessing-protection gate, method's PIN check, clock) -> decision.

``judge`` is the one place a PIN attempt is decided, for every method: the
gate, the member rules, the stale-PIN rule, and what guessing protection must
count. It only returns values; the engine applies the count through the guard.

Order matters for what the log can say: the PIN is checked first, so a
status reason (inactive, expired...) is only logged for someone who knew the
PIN, and an unknown email costs the same work as a known one.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable
from enum import Enum
from typing import Any, Final, Literal

from radius_server.protocol.codes import REPLY_MESSAGE, SESSION_TIMEOUT
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.rules.directory import Member
from radius_server.rules.throttle import Block

# One message for every reject: it must not tell whether the email exists.
REJECT_MESSAGE = b"Sign-in failed: check your email and PIN."
# Compared against when the email is unknown, so both paths do the same work.
_DUMMY_PIN = b"00000"

# A PIN check: how a method tests a candidate PIN. It returns the method's proof
# when the PIN is right (MS-CHAPv2: the authenticator response and keys; PAP and
# CHAP: PROVEN), None when it is wrong. The proof comes back to the method
# from ``judge`` only with an accept.
PinCheck = Callable[[bytes], Any]
# The proof of methods that need nothing more than "right".
PROVEN: Final = True


def pap_check(offered: bytes | None) -> Callable[[bytes], Literal[True] | None]:
    """A PIN check for PAP: the decrypted password compared in constant time."""

    def check(pin: bytes) -> Literal[True] | None:
        return PROVEN if offered is not None and hmac.compare_digest(offered, pin) else None

    return check


def _status_reason(member: Member, now: float) -> Reason | None:
    if not member.active:
        return Reason.INACTIVE
    if not member.wifi_access:
        return Reason.NO_WIFI_ACCESS
    if member.valid_from is not None and now < member.valid_from:
        return Reason.NOT_YET_VALID
    if member.valid_until is not None and now >= member.valid_until:
        return Reason.EXPIRED
    return None


_REJECT_ATTRIBUTES = ((REPLY_MESSAGE, REJECT_MESSAGE),)


def reject(reason: Reason, member: Member | None = None, detail: str | None = None) -> Decision:
    """An Access-Reject with the generic message."""
    return Decision(
        Outcome.REJECT, reason, _REJECT_ATTRIBUTES, member.email if member else None, detail
    )


def accept_attributes(member: Member, now: float) -> tuple[tuple[int, bytes], ...]:
    """Session-Timeout so a member's access ends with their validity window."""
    if member.valid_until is None:
        return ()
    return ((SESSION_TIMEOUT, struct.pack("!I", max(1, int(member.valid_until - now)))),)


class Tally(Enum):
    """What guessing protection counts for one judged attempt."""

    NOTHING = "nothing"  # a lock answered, a stale PIN, a status reject
    FAILURE = "failure"  # a wrong PIN or an unknown user: guard.failed
    SUCCESS = "success"  # accepted: guard.succeeded remembers the device


def judge(
    member: Member | None,
    check: PinCheck,
    now: float,
    block: Block | None = None,
    stale_pin_seconds: float = 0.0,
) -> tuple[Decision, Tally, Any]:
    """Decide one PIN attempt and say what guessing protection must count.

    Returns (decision, what to count, the check's proof: not None only for an accept).

    ``block`` is the guard's gate for this attempt (None: no lock applies);
    ``stale_pin_seconds`` how long after a PIN change the previous PIN is
    recognised as a stale device's (answered ``stale_pin``, counted as nothing).
    ``now`` is wall-clock POSIX seconds.
    """
    if block is not None:
        # Rejected without looking at the PIN: a right guess now confirms nothing.
        reason = Reason.LOCKED_OUT if block.locked_out else Reason.THROTTLED
        return reject(reason, member, f"{block.scope.value}_limit"), Tally.NOTHING, None
    if member is None:
        check(_DUMMY_PIN)
        return reject(Reason.UNKNOWN_USER), Tally.FAILURE, None
    proof = check(member.pin)
    if proof is not None:
        status = _status_reason(member, now)
        if status is not None:
            return reject(status, member), Tally.NOTHING, None
        accept = Decision(Outcome.ACCEPT, Reason.OK, accept_attributes(member, now), member.email)
        return accept, Tally.SUCCESS, proof
    if (
        member.previous_pin is not None
        and member.pin_changed_at is not None
        and now - member.pin_changed_at < stale_pin_seconds
        and check(member.previous_pin) is not None
    ):
        # A device still holding the PIN from before the last change.
        return reject(Reason.STALE_PIN, member), Tally.NOTHING, None
    return reject(Reason.WRONG_PIN, member), Tally.FAILURE, None


def decide(member: Member | None, check: PinCheck, now: float) -> Decision:
    """Accept only an active member with Wi-Fi access, inside their window, with the right PIN.

    ``judge`` without a gate or stale-PIN window: the member rules alone.
    """
    return judge(member, check, now)[0]
