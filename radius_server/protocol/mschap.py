"""MS-CHAPv2 (RFC 2759) and its MPPE keys (RFC 3079), pure functions.

The "password" is the member's PIN. ``hashlib`` has no MD4 under OpenSSL 3,
so MD4 comes from pycryptodome (docs/architecture.md, Protocol pitfalls); DES is
OpenSSL's, through cryptography (about half pycryptodome's cost per call). Every comparison of
a received proof is constant time.

Used three ways: plain MS-CHAPv2 over RADIUS (RFC 2548 attributes), inner
EAP-MSCHAPv2 in PEAP and TTLS, and inner MS-CHAPv2 in TTLS (RFC 5281 11.2.4).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from Crypto.Hash import MD4

from radius_server.protocol import codes as c
from radius_server.protocol.attributes import vendor_attribute
from radius_server.protocol.packet import Attribute

CHALLENGE_LENGTH = 16
NT_RESPONSE_LENGTH = 24
# RFC 2548 2.3.2: Ident(1) Flags(1) Peer-Challenge(16) Reserved(8) Response(24).
MS_CHAP2_RESPONSE_LENGTH = 50
# RFC 3079 2.4: 128-bit session keys.
MPPE_KEY_LENGTH = 16

# RFC 2759 8.7 GenerateAuthenticatorResponse.
_AUTH_MAGIC1 = b"Magic server to client signing constant"
_AUTH_MAGIC2 = b"Pad to make it do more than one iteration"
# RFC 3079 3.4 GetMasterKey / GetAsymmetricStartKey.
_MASTER_MAGIC = b"This is the MPPE Master Key"
_KEY_MAGIC2 = (
    b"On the client side, this is the send key; on the server side, it is the receive key."
)
_KEY_MAGIC3 = (
    b"On the client side, this is the receive key; on the server side, it is the send key."
)
_SHS_PAD1 = bytes(40)
_SHS_PAD2 = b"\xf2" * 40


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def nt_password_hash(password: bytes) -> bytes:
    """NtPasswordHash (RFC 2759 8.3): MD4 of the password in UTF-16LE.

    ``password`` is UTF-8 bytes (a PIN is ASCII digits).
    """
    unicode = password.decode("utf-8").encode("utf-16-le")
    return MD4.new(unicode).digest()  # noqa: S303 -- MS-CHAPv2 is defined on MD4


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """HashNtPasswordHash (RFC 2759 8.4): MD4 of the NT hash."""
    return MD4.new(password_hash).digest()  # noqa: S303


def strip_domain(user_name: bytes) -> bytes:
    """The user name as hashed into the challenge: no ``DOMAIN\\`` prefix (RFC 2759 8.2)."""
    return user_name.rsplit(b"\\", 1)[-1]


def challenge_hash(
    peer_challenge: bytes, authenticator_challenge: bytes, user_name: bytes
) -> bytes:
    """ChallengeHash (RFC 2759 8.2): first 8 octets of SHA1(peer + authenticator + user)."""
    return _sha1(peer_challenge + authenticator_challenge + strip_domain(user_name))[:8]


def _des_key(seven: bytes) -> bytes:
    """Spread 56 key bits over 8 octets, low bit (parity) left zero (RFC 2759 8.6)."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


@functools.cache
def _des_cipher() -> Callable[[bytes], Any]:
    """A DES-ECB cipher maker, imported at the first MS-CHAPv2 check: cryptography stays
    out of a server that never sees one (tests/unit/test_serve_imports.py)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    try:  # cryptography >= 43 keeps the old ciphers apart
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # pragma: no cover - older cryptography
        from cryptography.hazmat.primitives.ciphers.algorithms import (  # type: ignore[no-redef]
            TripleDES,
        )

    # TripleDES with K1 = K2 = K3 is single DES (EDE).
    return lambda key: Cipher(TripleDES(key * 3), modes.ECB())  # noqa: S305


def _des(key: bytes, block: bytes) -> bytes:
    """DES of one 8-octet block under an 8-octet key."""
    return _des_cipher()(key).encryptor().update(block)


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """ChallengeResponse (RFC 2759 8.5): three DES encryptions of the 8-octet challenge."""
    padded = password_hash + bytes(21 - len(password_hash))
    return b"".join(_des(_des_key(padded[i : i + 7]), challenge) for i in (0, 7, 14))


def generate_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, user_name: bytes, password: bytes
) -> bytes:
    """GenerateNTResponse (RFC 2759 8.1): the 24-octet NT-Response the peer sends."""
    challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name)
    return challenge_response(challenge, nt_password_hash(password))


def verify_nt_response(
    nt_response: bytes,
    authenticator_challenge: bytes,
    peer_challenge: bytes,
    user_name: bytes,
    password: bytes,
) -> bool:
    """Constant-time check of a received NT-Response against ``password``."""
    expected = generate_nt_response(authenticator_challenge, peer_challenge, user_name, password)
    return hmac.compare_digest(expected, nt_response)


def generate_authenticator_response(
    password: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    user_name: bytes,
) -> bytes:
    """GenerateAuthenticatorResponse (RFC 2759 8.7): ``b"S="`` + 40 upper-case hex digits."""
    hash_hash = hash_nt_password_hash(nt_password_hash(password))
    challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name)
    return _authenticator_response(hash_hash, nt_response, challenge)


def _authenticator_response(hash_hash: bytes, nt_response: bytes, challenge: bytes) -> bytes:
    digest = _sha1(hash_hash + nt_response + _AUTH_MAGIC1)
    digest = _sha1(digest + challenge + _AUTH_MAGIC2)
    return b"S=" + digest.hex().upper().encode("ascii")


def master_key(password_hash_hash: bytes, nt_response: bytes) -> bytes:
    """GetMasterKey (RFC 3079 3.4): 16 octets."""
    return _sha1(password_hash_hash + nt_response + _MASTER_MAGIC)[:16]


def asymmetric_start_key(master: bytes, length: int, *, is_send: bool, is_server: bool) -> bytes:
    """GetAsymmetricStartKey (RFC 3079 3.4)."""
    magic = _KEY_MAGIC3 if is_send == is_server else _KEY_MAGIC2
    return _sha1(master + _SHS_PAD1 + magic + _SHS_PAD2)[:length]


def server_mppe_keys(password: bytes, nt_response: bytes) -> tuple[bytes, bytes]:
    """(MS-MPPE-Send-Key, MS-MPPE-Recv-Key) as the server (NAS side) sends them (RFC 3079 3.4).

    The NAS encrypts with the server's send key and decrypts with its receive key.
    """
    return _mppe_keys(hash_nt_password_hash(nt_password_hash(password)), nt_response)


def _mppe_keys(hash_hash: bytes, nt_response: bytes) -> tuple[bytes, bytes]:
    master = master_key(hash_hash, nt_response)
    send = asymmetric_start_key(master, MPPE_KEY_LENGTH, is_send=True, is_server=True)
    recv = asymmetric_start_key(master, MPPE_KEY_LENGTH, is_send=False, is_server=True)
    return send, recv


@dataclass(frozen=True, slots=True)
class MsChapV2Proof:
    """What a right PIN yields in MS-CHAPv2: the proof for the peer and the session keys."""

    # GenerateAuthenticatorResponse (RFC 2759 8.7): b"S=" + 40 hex digits.
    authenticator_response: bytes = field(repr=False)
    # (RFC 3079 3.4) MS-MPPE-Send-Key and -Recv-Key as the server sends them.
    send_key: bytes = field(repr=False)
    recv_key: bytes = field(repr=False)


def pin_check(
    authenticator_challenge: bytes, peer_challenge: bytes, nt_response: bytes, user_name: bytes
) -> Callable[[bytes], MsChapV2Proof | None]:
    """The one MS-CHAPv2 verification (plain RADIUS, TTLS, EAP-MSCHAPv2): a PIN check.

    The check returns the proof when ``pin`` made ``nt_response``, else None: the
    proof can only be computed with the right PIN in hand, so it comes out of the
    check itself (no side channel).
    """

    challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name)

    def check(pin: bytes) -> MsChapV2Proof | None:
        # The NT hash and the challenge hash once (RFC 2759 8.1, 8.7; RFC 3079 3.4 use
        # both): the functions above would derive each up to three times.
        password_hash = nt_password_hash(pin)
        expected = challenge_response(challenge, password_hash)
        if not hmac.compare_digest(expected, nt_response):
            return None
        hash_hash = hash_nt_password_hash(password_hash)
        send, recv = _mppe_keys(hash_hash, nt_response)
        return MsChapV2Proof(_authenticator_response(hash_hash, nt_response, challenge), send, recv)

    return check


@dataclass(frozen=True, slots=True)
class ChapV2Response:
    """The parts of an MS-CHAP2-Response (RFC 2548 2.3.2) or an EAP-MSCHAPv2 Response value."""

    ident: int
    peer_challenge: bytes
    nt_response: bytes
    flags: int = 0


def parse_ms_chap2_response(value: bytes) -> ChapV2Response | None:
    """Split an RFC 2548 MS-CHAP2-Response value; None when it is not 50 octets."""
    if len(value) != MS_CHAP2_RESPONSE_LENGTH:
        return None
    return ChapV2Response(
        ident=value[0], peer_challenge=value[2:18], nt_response=value[26:50], flags=value[1]
    )


def ms_chap2_response_value(
    ident: int,
    authenticator_challenge: bytes,
    peer_challenge: bytes,
    user_name: bytes,
    password: bytes,
) -> bytes:
    """An MS-CHAP2-Response value as a client builds it (for our tests and test client)."""
    nt = generate_nt_response(authenticator_challenge, peer_challenge, user_name, password)
    return bytes((ident, 0)) + peer_challenge + bytes(8) + nt


def mschapv2_request_attributes(
    user_name: str,
    password: bytes,
    authenticator_challenge: bytes,
    peer_challenge: bytes,
    ident: int = 0,
) -> list[Attribute]:
    """User-Name, MS-CHAP-Challenge and MS-CHAP2-Response for a test Access-Request."""
    name = user_name.encode("utf-8")
    response = ms_chap2_response_value(
        ident, authenticator_challenge, peer_challenge, name, password
    )
    return [
        (c.USER_NAME, name),
        vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP_CHALLENGE, authenticator_challenge),
        vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP2_RESPONSE, response),
    ]


def failure_message(
    ident: int, new_challenge: bytes, message: str = "Authentication failed"
) -> bytes:
    """An MS-CHAP-Error value (RFC 2548 2.1.5): Ident + RFC 2759 6 failure text.

    ``E=691`` is ERROR_AUTHENTICATION_FAILURE; ``R=0`` forbids a retry, which
    keeps a guesser from reusing one conversation.
    """
    text = f"E=691 R=0 C={new_challenge.hex().upper()} V=3 M={message}"
    return bytes((ident,)) + text.encode("ascii")
