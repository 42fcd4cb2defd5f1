"""Request authenticity: Message-Authenticator and Request/Response Authenticators.

All comparisons are constant time (``hmac.compare_digest``): an attacker who
can time our answers must learn nothing about the expected value.
"""

from __future__ import annotations

import hmac
from enum import StrEnum

from radius_server.protocol import codes as c
from radius_server.protocol.digest import hmac_md5, md5
from radius_server.protocol.packet import RadiusRequest

ZERO_AUTHENTICATOR = bytes(16)
# Type 80, Length 18, 16 zero octets: where a Message-Authenticator goes before signing.
MA_PLACEHOLDER = bytes((c.MESSAGE_AUTHENTICATOR, 18)) + ZERO_AUTHENTICATOR

# Requests whose Request Authenticator is an MD5 over the packet itself (RFC 2866 3,
# RFC 5176 2.3): their Message-Authenticator is computed with 16 zero octets in its
# place (RFC 2869 5.14, RFC 5176 3.4).
_HASHED_REQUEST_CODES = frozenset(
    {c.Code.ACCOUNTING_REQUEST, c.Code.COA_REQUEST, c.Code.DISCONNECT_REQUEST}
)
# Requests signed by a Message-Authenticator over their random Request Authenticator.
_ACCESS_LIKE_CODES = frozenset({c.Code.ACCESS_REQUEST, c.Code.STATUS_SERVER})


class Authenticity(StrEnum):
    """Outcome of :func:`check_request_authenticity`; values double as log reasons."""

    OK = "ok"
    MISSING_MESSAGE_AUTHENTICATOR = "missing_message_authenticator"
    BAD_AUTHENTICATOR = "bad_authenticator"


# Read on every request: a module constant costs less than the enum class's attribute.
_AUTHENTIC = Authenticity.OK


def compute_message_authenticator(zeroed_packet: bytes, secret: bytes) -> bytes:
    """HMAC-MD5 of a packet whose Message-Authenticator value is 16 zero octets.

    RFC 3579 3.2 / RFC 2869 5.14. The caller puts the right vector in the
    Authenticator field first (the Request Authenticator, or zeros for the
    packets in RFC 5176 3.4 and RFC 2866).
    """
    return hmac_md5(secret, zeroed_packet)


def sign_leading_message_authenticator(
    header: bytes, vector: bytes, body: bytes, secret: bytes
) -> bytes:
    """Fill in the Message-Authenticator that opens ``body`` (a MA_PLACEHOLDER).

    RFC 3579 3.2: the HMAC covers the whole packet with ``vector`` in the
    Authenticator field and this attribute's value still zero.
    """
    # hmac_md5 is compute_message_authenticator, without its frame (every reply signs).
    mac = hmac_md5(secret, header + vector + body)
    return body[:2] + mac + body[18:]


def verify_message_authenticator(request: RadiusRequest, secret: bytes) -> bool:
    """True when the request carries a Message-Authenticator and it is valid.

    Absent attribute returns False; call sites that accept its absence check
    ``request.message_authenticator is None`` first.
    """
    offset = request.message_authenticator_offset
    received = request.message_authenticator
    if offset is None or received is None:
        return False
    raw = request.raw
    if request.code in _HASHED_REQUEST_CODES:
        zeroed = (
            raw[:4] + ZERO_AUTHENTICATOR + raw[20:offset] + ZERO_AUTHENTICATOR + raw[offset + 16 :]
        )
    else:
        zeroed = raw[:offset] + ZERO_AUTHENTICATOR + raw[offset + 16 :]
    return hmac.compare_digest(hmac_md5(secret, zeroed), received)


def verify_hashed_request_authenticator(request: RadiusRequest, secret: bytes) -> bool:
    """Verify the Request Authenticator of an Accounting-Request (RFC 2866 3).

    MD5(Code + Identifier + Length + 16 zero octets + attributes + secret); the
    same rule holds for CoA-Request and Disconnect-Request (RFC 5176 2.3).
    """
    raw = request.raw
    expected = md5(raw[:4] + ZERO_AUTHENTICATOR + raw[20:] + secret)
    return hmac.compare_digest(expected, request.authenticator)


def check_request_authenticity(
    request: RadiusRequest, secret: bytes, require_message_authenticator: bool = True
) -> Authenticity:
    """Decide whether a request really comes from a client holding ``secret``.

    - Accounting-Request (and CoA/Disconnect): the Request Authenticator must
      verify, and a Message-Authenticator too when present.
    - Access-Request: a Message-Authenticator must verify when present. Its
      absence is refused when ``require_message_authenticator`` (the default,
      against BlastRADIUS, CVE-2024-3596), and always when the request carries
      EAP-Message (RFC 3579 3.2).
    - Status-Server: the Message-Authenticator is mandatory (RFC 5997 3).
    - Any other code cannot be authenticated: BAD_AUTHENTICATOR.
    """
    code = request.code
    if code in _HASHED_REQUEST_CODES:
        if not verify_hashed_request_authenticator(request, secret):
            return Authenticity.BAD_AUTHENTICATOR
        if request.message_authenticator is not None and not verify_message_authenticator(
            request, secret
        ):
            return Authenticity.BAD_AUTHENTICATOR
        return Authenticity.OK
    if code not in _ACCESS_LIKE_CODES:
        return Authenticity.BAD_AUTHENTICATOR
    if request.message_authenticator is None:
        if (
            require_message_authenticator
            or code == c.Code.STATUS_SERVER
            or request.eap_message is not None
        ):
            return Authenticity.MISSING_MESSAGE_AUTHENTICATOR
        return _AUTHENTIC
    if verify_message_authenticator(request, secret):
        return _AUTHENTIC
    return Authenticity.BAD_AUTHENTICATOR


def response_authenticator(
    header: bytes, request_authenticator: bytes, attributes: bytes, secret: bytes
) -> bytes:
    """Response Authenticator (RFC 2865 3, RFC 2866 3).

    MD5(Code + Identifier + Length + Request Authenticator + attributes + secret),
    ``header`` being the first four octets of the reply.
    """
    return md5(header + request_authenticator + attributes + secret)
