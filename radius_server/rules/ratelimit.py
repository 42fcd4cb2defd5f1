"""Pure rate limiting of repetitive log events (e.g. packets from unknown addresses).

The first event for a key is logged; the next ones within ``interval`` are
counted and reported with the next logged one, so a flood costs a few lines.
"""

from __future__ import annotations

# Above this many keys we forget them all: spoofed sources must not grow memory.
MAX_KEYS = 10_000


class LogThrottle:
    """Decides whether an event for ``key`` should be logged now."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def admit(self, key: str, now: float) -> int | None:
        """Return the number suppressed since the last logged event, or None to stay quiet."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        if len(self._last) >= MAX_KEYS:
            self._last.clear()
            self._suppressed.clear()
        self._last[key] = now
        return self._suppressed.pop(key, 0)
