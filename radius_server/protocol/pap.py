"""PAP: the User-Password hiding of RFC 2865 5.2.

We decrypt to bytes and judge the result ourselves: pyrad's ``PwDecrypt``
decodes to text and silently drops undecodable octets, which turns
``b"1\\xff2345"`` into the valid-looking PIN ``"12345"`` (docs/architecture.md, Protocol pitfalls).
"""

from __future__ import annotations

import hmac

from radius_server.protocol.digest import md5, xor16
from radius_server.protocol.digest import new_md5 as _new_md5
from radius_server.protocol.errors import EncodeError, MalformedPacket, MalformedReason

PIN_LENGTH = 5
_from_bytes = int.from_bytes
_MAX_PASSWORD_LENGTH = 128  # RFC 2865 5.2


def decrypt_password(encrypted: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Reveal a User-Password value (RFC 2865 5.2) and strip its NUL padding.

    b1 = MD5(S + RA), p1 = c1 xor b1; bi = MD5(S + c(i-1)), pi = ci xor bi.
    Trailing NULs are the padding to a multiple of 16 and are removed; nothing
    else is altered, so a caller sees exactly what the client sent.

    Raises:
        MalformedPacket: BAD_PASSWORD_LENGTH when not 16..128 octets in steps of 16.
    """
    size = len(encrypted)
    if size < 16 or size > _MAX_PASSWORD_LENGTH or size & 15:
        raise MalformedPacket(MalformedReason.BAD_PASSWORD_LENGTH)
    previous = authenticator
    parts = []
    for start in range(0, size, 16):
        block = encrypted[start : start + 16]
        parts.append(xor16(block, md5(secret + previous)))
        previous = block
    return b"".join(parts).rstrip(b"\x00")


def decrypt_pin(encrypted: bytes, secret: bytes, authenticator: bytes) -> bytes | None:
    """Decrypt a User-Password that should hold a PIN; None unless exactly 5 ASCII digits.

    A wrong shared secret decrypts to noise, which lands here as None: the
    caller can count those per client to spot a misconfigured secret.
    """
    if len(encrypted) == 16:
        # The common case: a five-digit PIN pads to one block (RFC 2865 5.2).
        # xor16, inline: one big-int XOR (RFC 2865 5.2, c1 xor MD5(S + RA)).
        key = _new_md5(secret + authenticator).digest()
        plain = (
            (_from_bytes(encrypted, "big") ^ _from_bytes(key, "big"))
            .to_bytes(16, "big")
            .rstrip(b"\x00")
        )
    else:
        try:
            plain = decrypt_password(encrypted, secret, authenticator)
        except MalformedPacket:
            return None
    if len(plain) != PIN_LENGTH or not plain.isdigit():  # bytes.isdigit() is ASCII-only
        return None
    return plain


def pin_matches(candidate: bytes | None, expected: bytes) -> bool:
    """Constant-time comparison of a decrypted PIN with the stored one."""
    if candidate is None:
        return False
    return hmac.compare_digest(candidate, expected)


def encrypt_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Hide a password for a User-Password attribute (RFC 2865 5.2); for our test client.

    Raises:
        EncodeError: the password is longer than 128 octets.
    """
    if len(password) > _MAX_PASSWORD_LENGTH:
        raise EncodeError("password longer than 128 octets")
    # Pad with NULs to a multiple of 16; an empty password still takes one block.
    padded = password + bytes(-len(password) % 16 if password else 16)
    previous = authenticator
    parts = []
    for start in range(0, len(padded), 16):
        cipher = xor16(padded[start : start + 16], md5(secret + previous))
        parts.append(cipher)
        previous = cipher
    return b"".join(parts)
