"""Outcomes and reasons: the closed vocabulary of every decision and log line.

The NAS only ever sees accept, reject or nothing; the reason is for the
operator's log. Every reason is documented in the README.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class Outcome(StrEnum):
    """What we do with a request."""

    ACCEPT = "accept"
    REJECT = "reject"
    CHALLENGE = "challenge"
    DROP = "drop"


class Reason(StrEnum):
    """Why. A closed set: log consumers can rely on it."""

    OK = "ok"
    UNKNOWN_USER = "unknown_user"
    WRONG_PIN = "wrong_pin"
    BAD_PIN_FORMAT = "bad_pin_format"
    INACTIVE = "inactive"
    NO_WIFI_ACCESS = "no_wifi_access"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    LOCKED_OUT = "locked_out"
    THROTTLED = "throttled"
    STALE_PIN = "stale_pin"
    # Right PIN, but the member already has as many devices online as they may.
    DEVICE_LIMIT = "device_limit"
    # Right PIN, but the member's plan is not valid at the NAS's location.
    WRONG_LOCATION = "wrong_location"
    # Right PIN, but outside the plan's access hours (in the location's time zone).
    OUTSIDE_HOURS = "outside_hours"
    # An authentic request with an empty User-Name (RFC 2865 5: invalid length -> reject).
    NO_USER_NAME = "no_user_name"
    # The answer would not fit in 4096 octets beside the Proxy-State we must echo.
    REPLY_TOO_LARGE = "reply_too_large"
    UNSUPPORTED_METHOD = "unsupported_method"
    UNKNOWN_CLIENT = "unknown_client"
    BAD_AUTHENTICATOR = "bad_authenticator"
    MISSING_MESSAGE_AUTHENTICATOR = "missing_message_authenticator"
    MALFORMED = "malformed"
    UNSUPPORTED_CODE = "unsupported_code"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    # A bug met this request: dropped, logged with the exception's type, service goes on.
    INTERNAL_ERROR = "internal_error"
    STATUS = "status"
    ACCOUNTING = "accounting"
    # An accounting record neither the database nor the spool could keep (spool full):
    # not acknowledged, so the NAS retransmits it.
    NOT_STORED = "not_stored"
    # EAP (PEAP/TTLS): an Access-Challenge in an unfinished conversation.
    EAP_CHALLENGE = "eap_challenge"
    # Too many unfinished EAP conversations, or one grew past its size/round bounds.
    EAP_SESSION_LIMIT = "eap_session_limit"
    # A State we do not hold: expired, evicted, or never ours.
    EAP_UNKNOWN_STATE = "eap_unknown_state"
    EAP_TLS_FAILED = "eap_tls_failed"
    # The peer broke EAP, TLS framing or inner-method rules.
    EAP_PROTOCOL_ERROR = "eap_protocol_error"
    # The peer refused every method we offer (Nak).
    EAP_NO_COMMON_METHOD = "eap_no_common_method"
    # A TTLS device resumed a TLS session we no longer vouch for (its fast-reconnect
    # record expired or was evicted): refused; its next attempt is a full handshake.
    EAP_RESUMPTION_EXPIRED = "eap_resumption_expired"


class Decision(NamedTuple):
    """The outcome, its reason, and attributes for the reply (type, value bytes).

    Immutable. A named tuple rather than a frozen dataclass: one is built per request,
    and a frozen dataclass sets each field through ``object.__setattr__`` (about three
    times the cost). Change fields with :meth:`replace`.
    """

    outcome: Outcome
    reason: Reason
    attributes: tuple[tuple[int, bytes], ...] = ()
    # Canonical email of the member the request named, when one was found.
    member_email: str | None = None
    # Extra words for the log line (e.g. which budget a lock belongs to).
    detail: str | None = None
    # The name of the member's access plan (rules/plans.py), once the PIN was right.
    plan: str | None = None

    def replace(self, **changes: Any) -> Decision:
        """A copy with ``changes`` (field=value), as ``dataclasses.replace`` would make."""
        return self._replace(**changes)


def drop(reason: Reason) -> Decision:
    """A request we do not answer."""
    return Decision(Outcome.DROP, reason)
