"""Salt encryption of RFC 2548 2.4.2 (MS-MPPE-Send/Recv-Key) and RFC 2868 3.5 (Tunnel-Password).

Implemented here rather than through pyrad's ``SaltCrypt`` so the reply
encoder stays a single pass over plain bytes, with no pyrad packet object.
"""

from __future__ import annotations

import os

from radius_server.protocol.digest import md5, xor16
from radius_server.protocol.errors import EncodeError, MalformedPacket, MalformedReason

# Plaintext is Length(1) + key + padding, and must fit a 247-octet VSA value with the salt:
# 245 octets after the salt, so 240 in whole blocks, so at most 239 key octets.
MAX_SALT_PLAINTEXT = 239


def new_salt() -> bytes:
    """Two random octets with the most significant bit set (RFC 2548 2.4.2)."""
    # os.urandom, the source of secrets.randbits, without random.SystemRandom's Python
    # layer: two per Access-Accept with MS-MPPE keys.
    return (int.from_bytes(os.urandom(2), "big") | 0x8000).to_bytes(2, "big")


def salt_encrypt(
    value: bytes, secret: bytes, request_authenticator: bytes, salt: bytes | None = None
) -> bytes:
    """Return Salt + ciphertext for ``value`` (RFC 2548 2.4.2).

    P = Key-Length(1) + key, zero-padded to a multiple of 16;
    b1 = MD5(S + R + A), c1 = p1 xor b1; bi = MD5(S + c(i-1)), ci = pi xor bi,
    with S the shared secret, R the Request Authenticator and A the salt.
    Salts must differ between the attributes of one packet: pass distinct ones
    or leave ``salt`` to chance (``new_salt``).

    Raises:
        EncodeError: value longer than 239 octets, or a salt without its high bit.
    """
    if len(value) > MAX_SALT_PLAINTEXT:
        raise EncodeError("value too long for salt encryption")
    if salt is None:
        salt = new_salt()
    elif len(salt) != 2 or not salt[0] & 0x80:
        raise EncodeError("salt must be 2 octets with the high bit set")
    plain = bytes((len(value),)) + value
    plain += bytes(-len(plain) % 16)
    previous = request_authenticator + salt
    out = [salt]
    for start in range(0, len(plain), 16):
        cipher = xor16(plain[start : start + 16], md5(secret + previous))
        out.append(cipher)
        previous = cipher
    return b"".join(out)


def salt_decrypt(data: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """Reverse :func:`salt_encrypt` (for our test client and tests).

    Raises:
        MalformedPacket: BAD_ATTRIBUTE_LENGTH when the value or its inner length is invalid.
    """
    if len(data) < 18 or (len(data) - 2) % 16:
        raise MalformedPacket(MalformedReason.BAD_ATTRIBUTE_LENGTH)
    salt, cipher = data[:2], data[2:]
    previous = request_authenticator + salt
    parts = []
    for start in range(0, len(cipher), 16):
        block = cipher[start : start + 16]
        parts.append(xor16(block, md5(secret + previous)))
        previous = block
    plain = b"".join(parts)
    if plain[0] > len(plain) - 1:
        raise MalformedPacket(MalformedReason.BAD_ATTRIBUTE_LENGTH)
    return plain[1 : 1 + plain[0]]
