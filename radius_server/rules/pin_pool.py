"""The PINs in use as one byte per code, and fast uniform draws from the free ones.

A bulk import of 100,000 members needs to know every PIN in use: a ``set`` of
``str`` costs about 10 MB for that and ``pins.draw_pin`` enumerates the free codes
once per draw when the space is more than half full. Here the whole space is a
100 kB ``bytearray``; past half full the free drawable codes are listed once and
each draw takes one of them out (uniform: ``secrets``, as ``pins.draw_pin``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from radius_server.rules import pins


class PinPool:
    """Which of the 100,000 codes are taken; draws a free, drawable one."""

    __slots__ = ("_drawable_used", "_free", "_used")

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._used = bytearray(pins.PIN_SPACE)
        self._drawable_used = 0
        # The free drawable codes, listed once the space is half full (then kept current).
        self._free: list[str] | None = None
        for pin in taken:
            self.add(pin)

    def __contains__(self, pin: object) -> bool:
        return isinstance(pin, str) and pins.is_valid_format(pin) and bool(self._used[int(pin)])

    def __len__(self) -> int:
        """Drawable codes in use (trivial ones given by hand are not counted)."""
        return self._drawable_used

    def add(self, pin: str) -> None:
        """Mark ``pin`` taken (a malformed value is ignored: it can never be drawn)."""
        if not pins.is_valid_format(pin):
            return
        code = int(pin)
        if self._used[code]:
            return
        self._used[code] = 1
        if not pins.is_trivial(pin):
            self._drawable_used += 1
        # Still in the free list, if listed: draw() skips codes taken since.

    def draw(self) -> str:
        """A drawable code not taken, uniformly at random, now taken.

        Raises PinSpaceExhausted when none is free.
        """
        if self._free is None and self._drawable_used < pins.DRAWABLE_COUNT // 2:
            # Mostly free: rejection sampling, a few tries at most.
            for _ in range(64):
                candidate = secrets.choice(pins.drawable())
                if not self._used[int(candidate)]:
                    self.add(candidate)
                    return candidate
        if self._free is None:
            self._free = [p for p in pins.drawable() if not self._used[int(p)]]
        while self._free:
            # Swap the chosen code with the last and pop: O(1); the list's order does
            # not matter to a uniform choice, and skipping codes taken since it was
            # listed keeps the choice uniform among the free ones.
            index = secrets.randbelow(len(self._free))
            pin = self._free[index]
            self._free[index] = self._free[-1]
            self._free.pop()
            if not self._used[int(pin)]:
                self._used[int(pin)] = 1
                self._drawable_used += 1
                return pin
        raise pins.PinSpaceExhausted(
            f"all {pins.DRAWABLE_COUNT} PIN codes are in use: remove customers before adding more"
        )

    def fullness(self) -> pins.Fullness:
        """How full the drawable space is (as ``pins.fullness`` of the same PINs)."""
        return pins.Fullness(used=self._drawable_used, capacity=pins.DRAWABLE_COUNT)
