"""MD5, the one hash RADIUS knows.

RFC 2865 (Authenticators, User-Password hiding), RFC 2866, RFC 1994 (CHAP) and
RFC 2548/2868 (salt encryption) all mandate MD5; there is no choice to make,
so the linter's weak-hash warning is silenced here, once.
"""

from __future__ import annotations

import hashlib


def md5(data: bytes) -> bytes:
    """Return the 16-octet MD5 digest of ``data``."""
    return hashlib.md5(data).digest()  # noqa: S324 - mandated by the RADIUS RFCs


def xor16(a: bytes, b: bytes) -> bytes:
    """XOR two 16-octet blocks (the MD5-stream ciphers of RFC 2865 5.2 and RFC 2548 2.4.2)."""
    # One big-int XOR is several times faster than a per-octet loop in CPython.
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")
