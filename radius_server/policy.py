"""Pure decision: (method's PIN check, member, now) -> Decision.

Order matters for what the log can say: the PIN is checked first, so a
status reason (inactive, expired...) is only logged for someone who knew the
PIN, and an unknown email costs the same work as a known one.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable

from radius_server.decision import Decision, Outcome, Reason
from radius_server.directory import Member

SESSION_TIMEOUT = 27
REPLY_MESSAGE = 18

# One message for every reject: it must not tell whether the email exists.
REJECT_MESSAGE = b"Sign-in failed: check your email and PIN."
# Compared against when the email is unknown, so both paths do the same work.
_DUMMY_PIN = b"00000"

PinCheck = Callable[[bytes], bool]


def pap_check(offered: bytes | None) -> PinCheck:
    """A PIN check for PAP: the decrypted password compared in constant time."""

    def check(pin: bytes) -> bool:
        return offered is not None and hmac.compare_digest(offered, pin)

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


def reject(reason: Reason, member: Member | None = None) -> Decision:
    """An Access-Reject with the generic message."""
    return Decision(
        Outcome.REJECT,
        reason,
        ((REPLY_MESSAGE, REJECT_MESSAGE),),
        member.email if member else None,
    )


def accept_attributes(
    member: Member, now: float, max_session: int
) -> tuple[tuple[int, bytes], ...]:
    """Session-Timeout so a member's access ends with their validity window."""
    limit = max_session
    if member.valid_until is not None:
        remaining = int(member.valid_until - now)
        limit = max(1, min(limit, remaining)) if limit else max(1, remaining)
    if not limit:
        return ()
    return ((SESSION_TIMEOUT, struct.pack("!I", limit)),)


def decide(member: Member | None, check: PinCheck, now: float, *, max_session: int = 0) -> Decision:
    """Accept only an active member with Wi-Fi access, inside their window, with the right PIN."""
    if member is None:
        check(_DUMMY_PIN)
        return reject(Reason.UNKNOWN_USER)
    if not check(member.pin):
        return reject(Reason.WRONG_PIN, member)
    status = _status_reason(member, now)
    if status is not None:
        return reject(status, member)
    return Decision(
        Outcome.ACCEPT, Reason.OK, accept_attributes(member, now, max_session), member.email
    )
