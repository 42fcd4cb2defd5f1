"""CHAP (RFC 1994 4.1, RFC 2865 2.2 and 5.3).

The NAS sends CHAP-Password = CHAP Ident (1 octet) + MD5(Ident + secret + challenge),
the challenge being CHAP-Challenge when present, else the Request Authenticator
(RFC 2865 5.40). The "secret" here is the user's PIN, so a CHAP check needs
the PIN in clear: we try the one stored for the user named in User-Name.
"""

from __future__ import annotations

import hmac

from radius_server.protocol.digest import md5
from radius_server.protocol.packet import RadiusRequest

CHAP_PASSWORD_LENGTH = 17


def chap_challenge_of(request: RadiusRequest) -> bytes:
    """The challenge the NAS used: CHAP-Challenge, else the Request Authenticator."""
    return request.chap_challenge if request.chap_challenge is not None else request.authenticator


def chap_response(chap_id: int, pin: bytes, challenge: bytes) -> bytes:
    """MD5(CHAP Ident + PIN + challenge), the 16-octet CHAP response (RFC 1994 4.1)."""
    return md5(bytes((chap_id,)) + pin + challenge)


def verify_chap(chap_password: bytes, challenge: bytes, pin: bytes) -> bool:
    """Constant-time check of a CHAP-Password value against ``pin``.

    False (never an exception) when ``chap_password`` is not 17 octets.
    """
    if len(chap_password) != CHAP_PASSWORD_LENGTH:
        return False
    expected = chap_response(chap_password[0], pin, challenge)
    return hmac.compare_digest(expected, chap_password[1:])


def verify_chap_request(request: RadiusRequest, pin: bytes) -> bool:
    """Verify the CHAP-Password of ``request`` against ``pin``; False when it has none."""
    if request.chap_password is None:
        return False
    return verify_chap(request.chap_password, chap_challenge_of(request), pin)


def encode_chap_password(chap_id: int, pin: bytes, challenge: bytes) -> bytes:
    """CHAP-Password value for our test client: Ident + response."""
    return bytes((chap_id,)) + chap_response(chap_id, pin, challenge)
