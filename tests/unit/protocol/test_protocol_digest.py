"""hmac_md5 (cached pads per secret) is HMAC-MD5, for any key and message length."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from radius_server.protocol import digest
from radius_server.protocol.digest import hmac_md5


@pytest.mark.parametrize("key_length", [0, 1, 15, 16, 31, 63, 64, 65, 100, 128, 200])
def test_hmac_md5_matches_the_standard_library(key_length: int) -> None:
    rng = random.Random(key_length)
    key = rng.randbytes(key_length)
    for size in (0, 1, 20, 55, 56, 63, 64, 65, 119, 120, 200, 4096):
        message = rng.randbytes(size)
        assert hmac_md5(key, message) == hmac.new(key, message, hashlib.md5).digest()
        # The second call takes the cached pads: the same answer, the state not reused.
        assert hmac_md5(key, message) == hmac.digest(key, message, "md5")


def test_many_secrets_stay_apart_and_the_cache_is_bounded() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(rng.randrange(1, 80)) for _ in range(digest._MAX_KEYS + 50)]
    message = rng.randbytes(90)
    for key in keys + keys[:10]:
        assert hmac_md5(key, message) == hmac.digest(key, message, "md5")
    assert len(digest._PADS) <= digest._MAX_KEYS
