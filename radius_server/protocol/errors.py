"""Errors raised by the protocol core.

Every error a received datagram can provoke is a :class:`ProtocolError`, so the
engine catches exactly one type per request. Messages and reasons come from a
closed set and never hold packet bytes, passwords or secrets: they go to logs.
"""

from __future__ import annotations

from enum import StrEnum


class MalformedReason(StrEnum):
    """Why a datagram was refused; a closed set the engine logs as ``detail``."""

    # Shorter than the 20-octet header or than its own Length field (RFC 2865 3).
    TRUNCATED = "truncated"
    # Length field below 20 (RFC 2865 3).
    BAD_LENGTH = "bad_length"
    # Length field above 4096 (RFC 2865 3).
    TOO_LONG = "too_long"
    # An attribute Length below 2, past the end of the packet, or wrong for its type.
    BAD_ATTRIBUTE_LENGTH = "bad_attribute_length"
    # A single-valued attribute appears twice (RFC 2865 5.44 "0-1").
    DUPLICATE_ATTRIBUTE = "duplicate_attribute"
    # User-Password not 16..128 octets in steps of 16 (RFC 2865 5.2).
    BAD_PASSWORD_LENGTH = "bad_password_length"  # noqa: S105 - a reason name, not a password
    # A text attribute we must read (User-Name) is not valid UTF-8 (RFC 2865 5.1, RFC 3629).
    BAD_UTF8 = "bad_utf8"
    # Attributes that must not appear together, e.g. User-Password with CHAP-Password.
    CONFLICTING_ATTRIBUTES = "conflicting_attributes"
    # EAP-Message attributes not consecutive (RFC 3579 3.1).
    BAD_EAP_MESSAGE = "bad_eap_message"
    # A Vendor-Specific attribute of a vendor we read (Microsoft) is not well formed.
    BAD_VENDOR_ATTRIBUTE = "bad_vendor_attribute"


class ProtocolError(Exception):
    """Base class of every error the protocol core raises."""


class MalformedPacket(ProtocolError):
    """A received packet breaks the RADIUS encoding rules; drop it (RFC 2865 3)."""

    def __init__(self, reason: MalformedReason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class EncodeError(ProtocolError, ValueError):
    """A packet we were asked to build cannot be encoded (value or packet too long)."""
