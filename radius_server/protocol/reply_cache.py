"""Duplicate detection and reply caching (RFC 5080 2.2.2).

A NAS retransmits a request it got no answer to with the same source address,
port, Identifier and Request Authenticator. The server must answer with the
same reply, not run the decision again: a retransmitted wrong PIN must not
count as two failures. Entries live ``ttl`` seconds (RFC 5080 suggests a few
seconds: longer than the NAS retransmission window) and the cache is bounded,
dropping the oldest entry first.

A reply sent late on purpose (``reject_delay``) is held: until its send time a
duplicate reads as in progress and is dropped (the original, when it goes out,
answers it), and the entry lives ``ttl`` seconds after that time. Otherwise a
guesser sending every request twice would get each answer from the cache at
once. Only replies are remembered: a dropped request is forgotten, so its
retransmission is decided afresh (the drop may have been a passing condition).

Pure: the clock is the ``now`` argument (use ``time.monotonic()``). Entries
are kept in the order of their claims, which is expiry order (give or take the
time a decision takes) while ``now`` does not go backwards and the hold is the
same for every entry, so purging, once per claim, is amortised O(1); an entry
stored late or held may keep later, already expired ones for at most that long,
and a lookup never returns an expired one.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from enum import Enum

from radius_server.protocol.packet import RadiusRequest

CacheKey = tuple[str, int, int, bytes]

DEFAULT_TTL = 5.0
DEFAULT_MAX_ENTRIES = 65536


class Pending(Enum):
    """Marker for a request without a reply to resend yet."""

    # Still being decided, or its reply is held until its send time: drop the duplicate.
    IN_PROGRESS = "in_progress"


CacheValue = bytes | Pending
# Every claim stores it: a module constant costs less than the enum class's attribute.
_IN_PROGRESS = Pending.IN_PROGRESS


def cache_key(source_address: str, source_port: int, request: RadiusRequest) -> CacheKey:
    """The RFC 5080 2.2.2 key: source address and port, Identifier, Request Authenticator.

    Use one cache per listening socket (auth, accounting) so their keys never mix.
    """
    return (source_address, source_port, request.identifier, request.authenticator)


class ReplyCache:
    """Bounded, expiring map from a request key to its reply bytes or a marker."""

    __slots__ = ("_due", "_entries", "max_entries", "ttl")

    def __init__(self, ttl: float = DEFAULT_TTL, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        """Create an empty cache; ``ttl`` in seconds, ``max_entries`` >= 1."""
        if ttl <= 0 or max_entries < 1:
            raise ValueError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        # key -> (expires, reply or marker, send time of the reply)
        self._entries: OrderedDict[CacheKey, tuple[float, CacheValue, float]] = OrderedDict()
        # No purge can remove anything before this time: at most the first entry's
        # expiry (-inf: unknown). Lets most claims skip looking at the first entry.
        self._due = -math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> CacheValue | None:
        """Return the cached reply or marker for ``key``, or None if unknown or expired.

        A reply held until a later send time reads as ``Pending.IN_PROGRESS`` until then.
        """
        self._purge(now)
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            return None
        if now < entry[2]:
            return Pending.IN_PROGRESS
        return entry[1]

    def claim(self, key: CacheKey, now: float) -> CacheValue | None:
        """Look up ``key``; if unknown, mark it IN_PROGRESS and return None.

        None means "new request: decide it, then call :meth:`store` or
        :meth:`discard`". Anything else is a duplicate: resend the bytes, or
        stay silent for the marker. The one purge of a request happens here.
        """
        if now >= self._due:  # else the first entry lives on: nothing to purge
            self._purge(now)
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            if entry[0] > now:
                return _IN_PROGRESS if now < entry[2] else entry[1]
            del entries[key]  # expired, not purged yet (behind a held entry): re-added last
            self._due = -math.inf  # it may have been the first
        entries[key] = (now + self.ttl, _IN_PROGRESS, now)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)
            self._due = -math.inf
        return None

    def store(self, key: CacheKey, reply: bytes, now: float, hold: float = 0.0) -> None:
        """Remember the reply to ``key``, to be sent ``hold`` seconds after ``now``.

        Until then duplicates read as in progress; the reply is kept ``ttl``
        seconds from its send time. The entry keeps its place (its claim's): it is
        stored within a decision's time of its claim, so the order stays expiry
        order give or take that time and the hold, which purging tolerates.
        """
        send_at = now + hold
        entries = self._entries
        claimed = key in entries
        expires = send_at + self.ttl
        entries[key] = (expires, reply, send_at)
        if expires < self._due:
            self._due = expires  # it may be the first entry
        if not claimed:
            # Not claimed first (or purged since): a new entry, as claim adds them.
            if len(entries) > self.max_entries:
                entries.popitem(last=False)
                self._due = -math.inf
            self._purge(now)

    def discard(self, key: CacheKey) -> None:
        """Forget ``key``: the request was dropped, or its decision failed; a retry runs again."""
        if self._entries.pop(key, None) is not None:
            self._due = -math.inf  # it may have been the first

    def _purge(self, now: float) -> None:
        """Drop the expired entries at the front (the first live one stops the walk)."""
        if now < self._due:
            return  # the first entry lives on: nothing to drop
        entries = self._entries
        while entries:
            key, (expires, _, _) = next(iter(entries.items()))
            if expires > now:
                self._due = expires
                return
            del entries[key]
        self._due = -math.inf
