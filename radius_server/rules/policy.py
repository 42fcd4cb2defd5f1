"""Pure judging: (member, guessing-protection gate, method's PIN check, clock) -> decision.

``judge`` is the one place a PIN attempt is decided, for every method: the
gate, the member rules, the stale-PIN rule, and what guessing protection must
count. It only returns values; the engine applies the count through the guard.

Order matters for what the log can say: the PIN is checked first, so a
status reason (inactive, expired...) is only logged for someone who knew the
PIN, and an unknown email costs the same work as a known one. Then the
member's plan: valid at the NAS's location, inside its hours. The device limit
comes last: only a member who may sign in at all hears that too many of their
devices are online.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, tzinfo
from enum import Enum
from typing import Any, Final, Literal

from radius_server.protocol.codes import (
    ACCT_INTERIM_INTERVAL,
    CLASS,
    REPLY_MESSAGE,
    SESSION_TIMEOUT,
)
from radius_server.protocol.packet import Attribute
from radius_server.rules.accounting import make_class
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.rules.directory import Client, Member
from radius_server.rules.plans import DEFAULT_VENDOR, Location, Plan
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


# Enum members as module constants: in Python 3.11 reading one from its class costs
# about 0.1 us (the enum metaclass), and every judgement reads a few.
_REJECT = Outcome.REJECT
_ACCEPT = Outcome.ACCEPT
_OK = Reason.OK
_WRONG_PIN = Reason.WRONG_PIN
# Decision's own constructor is a Python function over tuple.__new__: the hot path's
# decisions skip it (all six fields, in order).
_decision = tuple.__new__


def reject(reason: Reason, member: Member | None = None, detail: str | None = None) -> Decision:
    """An Access-Reject with the generic message."""
    return _decision(
        Decision,
        (_REJECT, reason, _REJECT_ATTRIBUTES, member.email if member else None, detail, None),
    )


@dataclass(frozen=True, slots=True)
class SessionRules:
    """The server's session settings as the judge needs them; build with :func:`session_rules`."""

    # Devices a member may have online at once unless their own limit says otherwise; 0: any.
    device_limit: int
    # Acct-Interim-Interval (RFC 2869 5.16), encoded once: every accept carries it.
    interim: tuple[int, bytes]
    # The space's time zone (setting timezone): a plan's hours are read in it at a NAS
    # without a location.
    zone: tzinfo = UTC


def session_rules(
    device_limit: int, acct_interim_interval: int, zone: tzinfo = UTC
) -> SessionRules:
    """SessionRules from the settings device_limit, acct_interim_interval (seconds), timezone."""
    return SessionRules(
        device_limit, (ACCT_INTERIM_INTERVAL, struct.pack("!I", acct_interim_interval)), zone
    )


def accept_attributes(
    member: Member,
    now: float,
    rules: SessionRules | None = None,
    token: bytes | None = None,
    *,
    plan: Plan | None = None,
    vendor: str = DEFAULT_VENDOR,
    hours_end: float | None = None,
) -> tuple[tuple[int, bytes], ...]:
    """What every Access-Accept carries, whatever the method.

    The plan's reply for the NAS's ``vendor`` (VLAN, bandwidth, Idle-Timeout, its
    extra attributes); Session-Timeout so access ends with the first of the member's
    validity window, the plan's current access window (``hours_end``, from
    :func:`plan_check`) and the plan's session timeout; Acct-Interim-Interval (the
    plan's, else the server's) so the NAS reports the session often enough to tell
    a live one from a stale one; a Class naming the member and this sign-in
    (``token``, random per accept), which the NAS echoes in every accounting packet
    of the session (RFC 2865 5.25).
    """
    own: tuple[Attribute, ...] = ()
    interim = rules.interim if rules is not None else None
    timed = member.valid_until is not None
    if plan is not None:
        own = plan.reply_for(vendor)
        if plan.interim is not None:
            interim = plan.interim
        timed = timed or plan.timed
    if not timed and interim is not None and token is not None:
        # Every accept of a member without an end date on an untimed plan: the hot
        # path, built in one go.
        return (*own, interim, (CLASS, make_class(member.id, token)))
    attributes = list(own)
    if timed:
        seconds = _session_seconds(member, now, plan, hours_end)
        if seconds is not None:
            attributes.append((SESSION_TIMEOUT, struct.pack("!I", seconds)))
    if interim is not None:
        attributes.append(interim)
    if token is not None:
        attributes.append((CLASS, make_class(member.id, token)))
    return tuple(attributes)


def _session_seconds(
    member: Member, now: float, plan: Plan | None, hours_end: float | None
) -> int | None:
    """Seconds until the first of: validity end, hours window end, the plan's maximum."""
    ends = member.valid_until
    if hours_end is not None and (ends is None or hours_end < ends):
        ends = hours_end
    seconds = None if ends is None else max(1, int(ends - now))
    cap = plan.session_timeout if plan is not None else None
    if cap is not None and (seconds is None or cap < seconds):
        seconds = cap
    return seconds


def plan_check(
    plan: Plan, client: Client | None, location: Location | None, now: float, zone: tzinfo
) -> tuple[Reason | None, float | None]:
    """Whether ``plan`` lets its member on at this NAS now: (refusal, end of hours window).

    A plan limited to locations refuses a NAS without a location (fail closed). Hours
    are read in the location's zone, else (no location, or a zone unknown to this
    machine's zone database) in ``zone``, the space's.
    """
    ids = plan.location_ids
    if ids is not None and (client is None or client.location_id not in ids):
        return Reason.WRONG_LOCATION, None
    hours = plan.hours
    if hours is None:
        return None, None
    if location is not None:
        # A zone this machine does not know: the space's, rather than no answer.
        # (try/except, not contextlib.suppress: this runs on every sign-in with hours.)
        try:  # noqa: SIM105
            zone = location.zone
        except ValueError:
            pass
    verdict = hours.check(now, zone)
    if not verdict.allowed:
        return Reason.OUTSIDE_HOURS, None
    return None, verdict.ends


def plan_reply(
    plan: Plan | None,
    client: Client,
    member: Member,
    now: float,
    rules: SessionRules,
    location: Location | None = None,
) -> tuple[Attribute, ...] | None:
    """A member's attributes for ``client`` at ``now``: an Accept's, without the Class.

    For a CoA-Request (RFC 5176 3.6) that brings an online member's session up to
    date with their plan. None when the member may not be on at all now (status,
    location, hours): send a Disconnect-Request instead.
    """
    if _status_reason(member, now) is not None:
        return None
    hours_end = None
    if plan is not None:
        refusal, hours_end = plan_check(plan, client, location, now, rules.zone)
        if refusal is not None:
            return None
    return accept_attributes(
        member, now, rules, None, plan=plan, vendor=client.vendor, hours_end=hours_end
    )


def device_limit_reject(member: Member, limit: int, online: int) -> Decision:
    """The reject for one device too many; its message says why (the PIN was right)."""
    devices = "device" if online == 1 else "devices"
    message = f"Device limit reached: {online} {devices} online".encode()
    return Decision(
        Outcome.REJECT,
        Reason.DEVICE_LIMIT,
        ((REPLY_MESSAGE, message),),
        member.email,
        f"online={online} limit={limit}",
    )


def _plan_reject(reason: Reason, member: Member, plan: Plan) -> Decision:
    """A reject by the member's plan; its message says which rule (the PIN was right)."""
    message = (
        plan.wrong_location_reply if reason is Reason.WRONG_LOCATION else plan.outside_hours_reply
    )
    return Decision(Outcome.REJECT, reason, message, member.email, plan=plan.name)


class Tally(Enum):
    """What guessing protection counts for one judged attempt."""

    NOTHING = "nothing"  # a lock answered, a stale PIN, a status reject
    FAILURE = "failure"  # a wrong PIN or an unknown user: guard.failed
    SUCCESS = "success"  # accepted: guard.succeeded remembers the device


_SUCCESS = Tally.SUCCESS
_FAILURE = Tally.FAILURE


def judge(
    member: Member | None,
    check: PinCheck,
    now: float,
    block: Block | None = None,
    stale_pin_seconds: float = 0.0,
    # Not keyword-only: the engine passes all twelve in order (every request does,
    # and matching keywords costs more than the judging).
    rules: SessionRules | None = None,
    station: str | None = None,
    online: Collection[str] = (),
    token: bytes | None = None,
    plan: Plan | None = None,
    client: Client | None = None,
    location: Location | None = None,
) -> tuple[Decision, Tally, Any]:
    """Decide one PIN attempt and say what guessing protection must count.

    Returns (decision, what to count, the check's proof: not None only for an accept).

    ``block`` is the guard's gate for this attempt (None: no lock applies);
    ``stale_pin_seconds`` how long after a PIN change the previous PIN is
    recognised as a stale device's (answered ``stale_pin``, counted as nothing).
    ``now`` is wall-clock POSIX seconds.

    Sessions: ``rules`` (None: no device limit, no Acct-Interim-Interval),
    ``station`` the request's normalised Calling-Station-Id, ``online`` the
    member's stations online now, and ``token`` the random part of the accept's
    Class (None: no Class). A device-limit reject counts as nothing: the PIN was
    right, so it is no guess, and the device did not get on, so it is not known.

    Plans: ``plan`` the member's (None: no plan rules), ``client`` the NAS asking
    (its vendor shapes the reply, its location is checked), ``location`` that
    location (its zone reads the hours; None: ``rules.zone``). Wrong location and
    outside hours count as nothing, like a status reject, and say in their
    Reply-Message which rule applied: only someone who proved the PIN hears it.
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
        hours_end = None
        plan_name = None
        if plan is not None:
            plan_name = plan.name
            if plan.location_ids is not None or plan.hours is not None:
                refusal, hours_end = plan_check(
                    plan, client, location, now, rules.zone if rules is not None else UTC
                )
                if refusal is not None:
                    return _plan_reject(refusal, member, plan), Tally.NOTHING, None
        if rules is not None:
            # The device limit: the member's own, else the plan's, else the server's
            # (0: unlimited). A station already online is the same device again
            # (re-authentication, roaming to another access point) and never counts
            # twice; a request without Calling-Station-Id cannot be recognised, so it
            # is a new device.
            limit = member.device_limit
            if limit is None:
                limit = rules.device_limit
                if plan is not None and plan.device_limit is not None:
                    limit = plan.device_limit
            if limit and len(online) >= limit and (station is None or station not in online):
                refused = device_limit_reject(member, limit, len(online))
                if plan_name is not None:
                    refused = refused.replace(plan=plan_name)
                return refused, Tally.NOTHING, None
        if plan is None:
            # No plan: no vendor reply, no access hours; positional, as every accept of
            # the common case comes here (keywords cost more than the call).
            attributes = accept_attributes(member, now, rules, token)
        else:
            attributes = accept_attributes(
                member,
                now,
                rules,
                token,
                plan=plan,
                vendor=client.vendor if client is not None else DEFAULT_VENDOR,
                hours_end=hours_end,
            )
        accept = _decision(Decision, (_ACCEPT, _OK, attributes, member.email, None, plan_name))
        return accept, _SUCCESS, proof
    if (
        member.previous_pin is not None
        and member.pin_changed_at is not None
        and now - member.pin_changed_at < stale_pin_seconds
        and check(member.previous_pin) is not None
    ):
        # A device still holding the PIN from before the last change.
        return reject(Reason.STALE_PIN, member), Tally.NOTHING, None
    return reject(_WRONG_PIN, member), _FAILURE, None


def decide(member: Member | None, check: PinCheck, now: float) -> Decision:
    """Accept only an active member with Wi-Fi access, inside their window, with the right PIN.

    ``judge`` without a gate or stale-PIN window: the member rules alone.
    """
    return judge(member, check, now)[0]
