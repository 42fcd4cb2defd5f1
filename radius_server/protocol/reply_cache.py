"""Duplicate detection and reply caching (RFC 5080 2.2.2).

A NAS retransmits a request it got no answer to with the same source address,
port, Identifier and Request Authenticator. The server must answer with the
same reply, not run the decision again: a retransmitted wrong PIN must not
count as two failures. Entries live ``ttl`` seconds (RFC 5080 suggests a few
seconds: longer than the NAS retransmission window) and the cache is bounded,
dropping the oldest entry first.

Pure: the clock is the ``now`` argument (use ``time.monotonic()``). Entries
are kept in insertion order, which is expiry order while ``now`` does not go
backwards, so purging is amortised O(1).
"""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum

from radius_server.protocol.packet import RadiusRequest

CacheKey = tuple[str, int, int, bytes]

DEFAULT_TTL = 5.0
DEFAULT_MAX_ENTRIES = 65536


class Pending(Enum):
    """Markers for requests without a reply to resend."""

    IN_PROGRESS = "in_progress"  # still being decided: drop the retransmission
    DROPPED = "dropped"  # decided to drop: drop the retransmission too


CacheValue = bytes | Pending


def cache_key(source_address: str, source_port: int, request: RadiusRequest) -> CacheKey:
    """The RFC 5080 2.2.2 key: source address and port, Identifier, Request Authenticator.

    Use one cache per listening socket (auth, accounting) so their keys never mix.
    """
    return (source_address, source_port, request.identifier, request.authenticator)


class ReplyCache:
    """Bounded, expiring map from a request key to its reply bytes or a marker."""

    __slots__ = ("_entries", "max_entries", "ttl")

    def __init__(self, ttl: float = DEFAULT_TTL, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        """Create an empty cache; ``ttl`` in seconds, ``max_entries`` >= 1."""
        if ttl <= 0 or max_entries < 1:
            raise ValueError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, tuple[float, CacheValue]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> CacheValue | None:
        """Return the cached reply or marker for ``key``, or None if unknown or expired."""
        self._purge(now)
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def claim(self, key: CacheKey, now: float) -> CacheValue | None:
        """Look up ``key``; if unknown, mark it IN_PROGRESS and return None.

        None means "new request: decide it, then call :meth:`store` or
        :meth:`store_dropped`". Anything else is a duplicate: resend the bytes,
        or stay silent for a marker.
        """
        found = self.get(key, now)
        if found is None:
            self._put(key, Pending.IN_PROGRESS, now)
        return found

    def store(self, key: CacheKey, reply: bytes, now: float) -> None:
        """Remember the reply sent for ``key`` for ``ttl`` seconds from ``now``."""
        self._put(key, reply, now)

    def store_dropped(self, key: CacheKey, now: float) -> None:
        """Remember that ``key`` was dropped, so retransmissions are dropped unseen."""
        self._put(key, Pending.DROPPED, now)

    def discard(self, key: CacheKey) -> None:
        """Forget ``key`` (e.g. the decision failed and a retry should run it again)."""
        self._entries.pop(key, None)

    def _put(self, key: CacheKey, value: CacheValue, now: float) -> None:
        entries = self._entries
        entries[key] = (now + self.ttl, value)
        entries.move_to_end(key)  # newest expiry last keeps the order sorted by expiry
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
        self._purge(now)

    def _purge(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (expires, _) = next(iter(entries.items()))
            if expires > now:
                break
            del entries[key]
