"""MD5, the one hash RADIUS knows.

RFC 2865 (Authenticators, User-Password hiding), RFC 2866, RFC 1994 (CHAP) and
RFC 2548/2868 (salt encryption) all mandate MD5; there is no choice to make,
so the linter's weak-hash warning is silenced here, once.
"""

from __future__ import annotations

import hashlib
from typing import Any

try:
    # CPython's own MD5: for a RADIUS packet (a block or two) it costs about half of
    # hashlib's OpenSSL one, whose context set-up per hash dominates at that size.
    from _md5 import md5 as _new_md5
except ImportError:  # an interpreter built without it
    _new_md5 = hashlib.md5
# The MD5 constructor itself, for the hot path's callers that add ``.digest()``
# themselves (one call less than ``md5``).
new_md5 = _new_md5


def md5(data: bytes) -> bytes:
    """Return the 16-octet MD5 digest of ``data``."""
    return _new_md5(data).digest()


def xor16(a: bytes, b: bytes) -> bytes:
    """XOR two 16-octet blocks (the MD5-stream ciphers of RFC 2865 5.2 and RFC 2548 2.4.2)."""
    # One big-int XOR is several times faster than a per-octet loop in CPython.
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


# Per key: MD5 states that have absorbed the inner and the outer pad (RFC 2104 2).
# Keys are the clients' shared secrets, a handful; bounded anyway (cleared when full).
_PADS: dict[bytes, tuple[Any, Any]] = {}
_MAX_KEYS = 1024
_BLOCK = 64  # MD5's block size: HMAC pads keys to it
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _pads(key: bytes) -> tuple[Any, Any]:
    if len(key) > _BLOCK:
        key = _new_md5(key).digest()  # RFC 2104 2: long keys are hashed first
    key = key.ljust(_BLOCK, b"\x00")
    # RFC 2869 5.14 mandates HMAC-MD5.
    inner = _new_md5(key.translate(_IPAD))
    outer = _new_md5(key.translate(_OPAD))
    return inner, outer


def hmac_md5(key: bytes, data: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104) of ``data`` under ``key``: ``hmac.digest(key, data, "md5")``.

    The Message-Authenticator (RFC 2869 5.14, RFC 3579 3.2) of every request and
    reply. ``hmac.digest`` sets up a new OpenSSL HMAC context per call, which costs
    three times the hashing of a RADIUS packet; here each secret's padded-key states
    are computed once and copied per message.
    """
    pads = _PADS.get(key)
    if pads is None:
        if len(_PADS) >= _MAX_KEYS:
            _PADS.clear()
        pads = _PADS[key] = _pads(key)
    inner = pads[0].copy()
    inner.update(data)
    outer = pads[1].copy()
    outer.update(inner.digest())
    return outer.digest()
