"""RFC 5080 duplicate detection: hit, expiry, bound, markers."""

from __future__ import annotations

import random

import pytest

from radius_server.protocol import Pending, ReplyCache, cache_key, decode_request
from tests.unit.protocol.protocol_samples import pap_request


def key(n: int) -> tuple[str, int, int, bytes]:
    return ("192.0.2.1", 1812, n & 0xFF, n.to_bytes(16, "big"))


def test_cache_key_is_source_identifier_and_authenticator() -> None:
    request = decode_request(pap_request())
    assert cache_key("192.0.2.9", 40000, request) == (
        "192.0.2.9",
        40000,
        request.identifier,
        request.authenticator,
    )


def test_claim_then_store_then_hit() -> None:
    cache = ReplyCache(ttl=5.0)
    assert cache.claim(key(1), now=100.0) is None  # new: ours to decide
    assert cache.claim(key(1), now=100.5) is Pending.IN_PROGRESS  # retransmission meanwhile
    cache.store(key(1), b"reply-bytes", now=101.0)
    assert cache.claim(key(1), now=102.0) == b"reply-bytes"
    assert cache.get(key(1), now=102.0) == b"reply-bytes"
    assert cache.get(key(2), now=102.0) is None


def test_entries_expire_after_ttl() -> None:
    cache = ReplyCache(ttl=5.0)
    cache.store(key(1), b"r1", now=10.0)
    assert cache.get(key(1), now=14.999) == b"r1"
    assert cache.get(key(1), now=15.0) is None
    assert len(cache) == 0  # purged, not only hidden
    assert cache.claim(key(1), now=15.0) is None  # a fresh request again


def test_store_refreshes_expiry_from_the_reply_time() -> None:
    cache = ReplyCache(ttl=5.0)
    cache.claim(key(1), now=0.0)
    cache.store(key(1), b"r", now=4.0)
    assert cache.get(key(1), now=8.5) == b"r"


def test_held_reply_is_in_progress_until_its_send_time() -> None:
    """reject_delay: a duplicate must not get the reply before the original goes out."""
    cache = ReplyCache(ttl=5.0)
    cache.claim(key(1), now=10.0)
    cache.store(key(1), b"reject", now=10.1, hold=2.0)
    assert cache.claim(key(1), now=10.2) is Pending.IN_PROGRESS
    assert cache.get(key(1), now=12.099) is Pending.IN_PROGRESS
    assert cache.claim(key(1), now=12.1) == b"reject"
    # Kept ttl seconds from the send time, not from the decision.
    assert cache.get(key(1), now=17.0) == b"reject"
    assert cache.get(key(1), now=17.1) is None


def test_a_held_entry_never_hides_expiry_of_later_ones() -> None:
    cache = ReplyCache(ttl=1.0)
    cache.store(key(1), b"held", now=0.0, hold=10.0)
    cache.store(key(2), b"plain", now=0.5)
    assert cache.get(key(2), now=1.4) == b"plain"
    assert cache.get(key(2), now=1.5) is None
    assert cache.get(key(1), now=10.5) == b"held"


def test_discard_allows_a_retry() -> None:
    cache = ReplyCache()
    cache.claim(key(1), now=0.0)
    cache.discard(key(1))
    assert cache.claim(key(1), now=0.1) is None
    cache.discard(key(99))  # unknown: no error


def test_size_is_bounded_and_oldest_evicted_first() -> None:
    cache = ReplyCache(ttl=60.0, max_entries=3)
    for n in range(5):
        cache.store(key(n), bytes((n,)), now=float(n))
    assert len(cache) == 3
    assert cache.get(key(0), now=5.0) is None
    assert cache.get(key(1), now=5.0) is None
    assert [cache.get(key(n), now=5.0) for n in (2, 3, 4)] == [b"\x02", b"\x03", b"\x04"]


def test_many_entries_expire_in_order() -> None:
    cache = ReplyCache(ttl=1.0, max_entries=100_000)
    for n in range(10_000):
        cache.store(key(n), b"r", now=n / 10_000)
    cache.store(key(10_001), b"r", now=1.5)
    assert len(cache) == 1 + sum(1 for n in range(10_000) if n / 10_000 + 1.0 > 1.5)


@pytest.mark.parametrize(("ttl", "size"), [(0.0, 10), (-1.0, 10), (5.0, 0)])
def test_invalid_configuration(ttl: float, size: int) -> None:
    with pytest.raises(ValueError):
        ReplyCache(ttl=ttl, max_entries=size)


class _Walking(ReplyCache):
    """The cache as it was before ``_due``: every purge walks from the first entry."""

    __slots__ = ()

    def _purge(self, now: float) -> None:
        entries = self._entries
        while entries:
            first, (expires, _, _) = next(iter(entries.items()))
            if expires > now:
                break
            del entries[first]


@pytest.mark.parametrize("seed", range(20))
def test_skipping_purges_changes_nothing(seed: int) -> None:
    """Claims, stores (held or not, late or not), discards and overflows, at random: the
    cache that skips purges before the first entry's expiry answers as the walking one."""
    rng = random.Random(seed)
    fast, slow = ReplyCache(ttl=2.0, max_entries=40), _Walking(ttl=2.0, max_entries=40)
    now = 0.0
    for _ in range(3000):
        now += rng.choice([0.0, 0.001, 0.01, 0.1, 0.5])
        k = key(rng.randrange(60))
        op = rng.random()
        if op < 0.5:
            assert fast.claim(k, now) == slow.claim(k, now)
        elif op < 0.8:
            at = now - rng.choice([0.0, 0.0, 0.05])
            hold = rng.choice([0.0, 0.0, 1.0])
            reply = b"r%d" % rng.randrange(1000)
            fast.store(k, reply, at, hold)
            slow.store(k, reply, at, hold)
        elif op < 0.9:
            fast.discard(k)
            slow.discard(k)
        else:
            assert fast.get(k, now) == slow.get(k, now)
        assert list(fast._entries.items()) == list(slow._entries.items())
