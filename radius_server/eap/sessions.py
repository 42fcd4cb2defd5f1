"""Unfinished EAP conversations, keyed by the RADIUS State we handed out (RFC 2865 5.24).

Bounded three ways, so a flood of EAP starts or half-finished handshakes cannot
grow memory without limit: a total count, a per-station count (a device
restarting over and over replaces its own oldest conversation rather than
filling the table), and an idle timeout measured with the ``now`` the engine
passes in. Each conversation bounds its own size (see ``conversation.py``).

When the table is full, the conversation idle the longest is evicted if it has
been quiet for ``min_idle`` seconds: a real device answers within milliseconds,
so a slow flood of half-open handshakes only ever displaces its own kind and
members keep signing in. Only when every slot was busy within ``min_idle``
(thousands of live handshakes a second) is a new conversation refused.

Every Access-Challenge gets a fresh random State: the conversation is re-keyed
on each round, so a State is good for exactly one answer.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

STATE_LENGTH = 16
# States drawn from the system's CSPRNG this many at a time: one getrandom call per 64
# Access-Challenges instead of one each (about 2 us saved per round).
_STATE_POOL = 64 * STATE_LENGTH


class Keyed(Protocol):
    """What the table needs from a conversation."""

    state: bytes
    station: str
    touched: float


T = TypeVar("T", bound=Keyed)


class SessionTable(Generic[T]):
    """Conversations by State, oldest activity first."""

    def __init__(
        self, max_sessions: int, timeout: float, max_per_station: int = 4, min_idle: float = 2.0
    ) -> None:
        self.max_sessions = max_sessions
        self.timeout = timeout
        self.max_per_station = max_per_station
        self.min_idle = min_idle
        # Conversations pushed out to make room (a counter for logs and tests).
        self.evicted = 0
        self._by_state: OrderedDict[bytes, T] = OrderedDict()
        self._random = b""
        self._random_at = 0
        # Each station's conversations, oldest first (a handful at most).
        self._per_station: dict[str, list[T]] = {}

    def __len__(self) -> int:
        return len(self._by_state)

    def expire(self, now: float) -> int:
        """Forget conversations idle for longer than the timeout; return how many."""
        expired = 0
        deadline = now - self.timeout
        while self._by_state:
            state, oldest = next(iter(self._by_state.items()))
            if oldest.touched > deadline:
                break
            self._drop(state, oldest)
            expired += 1
        return expired

    def get(self, state: bytes, now: float) -> T | None:
        """The live conversation holding ``state``, or None."""
        found = self._by_state.get(state)
        if found is None:
            return None
        if found.touched <= now - self.timeout:
            self._drop(state, found)
            return None
        return found

    def add(self, session: T, now: float) -> bool:
        """Store a new conversation under a fresh State; False when it cannot be held.

        A station already at its own limit loses its oldest conversation first;
        a full table loses its idlest one, if idle for ``min_idle``.
        """
        mine = self._per_station.get(session.station)
        if mine is not None and len(mine) >= self.max_per_station:
            oldest = mine[0]
            self._drop(oldest.state, oldest)
        if len(self._by_state) >= self.max_sessions:
            state, idlest = next(iter(self._by_state.items()))
            if idlest.touched > now - self.min_idle:
                return False
            self._drop(state, idlest)
            self.evicted += 1
        self._per_station.setdefault(session.station, []).append(session)
        self._store(session, now)
        return True

    def renew(self, session: T, now: float) -> bytes:
        """Give ``session`` a fresh State for its next Access-Challenge; return it."""
        self._by_state.pop(session.state, None)
        self._store(session, now)
        return session.state

    def remove(self, session: T) -> None:
        """Forget a finished conversation."""
        if self._by_state.get(session.state) is session:
            self._drop(session.state, session)

    def _new_state(self) -> bytes:
        """16 fresh random octets (RFC 2865 5.24: the server's own, unguessable)."""
        at = self._random_at
        if at >= len(self._random):
            self._random = secrets.token_bytes(_STATE_POOL)
            at = 0
        self._random_at = at + STATE_LENGTH
        return self._random[at : at + STATE_LENGTH]

    def _store(self, session: T, now: float) -> None:
        state = self._new_state()
        while state in self._by_state:
            state = self._new_state()
        session.state = state
        session.touched = now
        self._by_state[state] = session

    def _drop(self, state: bytes, session: T) -> None:
        del self._by_state[state]
        mine = self._per_station.get(session.station)
        if mine is not None:
            # Identity, not equality: two conversations may look alike.
            mine[:] = [other for other in mine if other is not session]
            if not mine:
                del self._per_station[session.station]
