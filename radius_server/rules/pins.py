"""PIN rules: what a PIN is, how a new one is drawn, and how fullness is judged.

A PIN is exactly five ASCII digits. New PINs are drawn uniformly at random
(``secrets``) from the codes that are neither in use nor trivially guessable.
Uniqueness itself is the database's job (a unique index), so two processes that
draw the same code at the same moment cannot both store it; callers retry.
"""

from __future__ import annotations

import functools
import itertools
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass

PIN_LENGTH = 5
PIN_SPACE = 10**PIN_LENGTH
# Warn admins when this share of the drawable codes is taken.
WARN_FULLNESS = 0.9

# re.ASCII and an explicit class: str.isdigit() and \d also accept e.g. Arabic-Indic digits.
_PIN_RE = re.compile(r"[0-9]{5}", re.ASCII)


class PinError(ValueError):
    """A PIN is malformed, taken, or no PIN can be drawn. Messages never hold a PIN."""


class PinSpaceExhausted(PinError):
    """Every drawable PIN is in use."""


def is_valid_format(pin: str) -> bool:
    """True when ``pin`` is exactly five ASCII digits."""
    return isinstance(pin, str) and _PIN_RE.fullmatch(pin) is not None


def check_format(pin: str) -> None:
    """Raise PinError unless ``pin`` is exactly five ASCII digits."""
    if not is_valid_format(pin):
        raise PinError("a PIN must be exactly 5 digits (0-9)")


def is_trivial(pin: str) -> bool:
    """True for codes an attacker tries first: one repeated digit or a straight run.

    Straight runs are ascending (01234 ... 56789) or descending (98765 ... 43210).
    """
    digits = [ord(c) - 48 for c in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    return len(steps) == 1 and steps.pop() in (0, 1, -1)


def _build_drawable() -> tuple[str, ...]:
    return tuple(p for p in (f"{n:05d}" for n in range(PIN_SPACE)) if not is_trivial(p))


# 100,000 codes less 10 repeated digits and 12 straight runs (checked by a test).
DRAWABLE_COUNT = 99_978


@functools.cache
def drawable() -> tuple[str, ...]:
    """Every drawable code, in order; built on first use (it costs ~0.1 s at import)."""
    return _build_drawable()


@dataclass(frozen=True, slots=True)
class Fullness:
    """How much of the drawable PIN space is taken."""

    used: int
    capacity: int

    @property
    def ratio(self) -> float:
        """Share of drawable codes in use, 0.0 to 1.0."""
        return self.used / self.capacity

    @property
    def should_warn(self) -> bool:
        """True at or beyond the warning threshold."""
        return self.ratio >= WARN_FULLNESS

    def message(self) -> str:
        """Human sentence for admins."""
        return (
            f"{self.used} of {self.capacity} PIN codes are in use ({self.ratio:.0%}); "
            "new customers will soon get no PIN"
        )


def fullness(used_pins: Collection[str]) -> Fullness:
    """Measure fullness; only drawable codes count against the drawable capacity."""
    used = sum(1 for p in used_pins if is_valid_format(p) and not is_trivial(p))
    return Fullness(used=used, capacity=DRAWABLE_COUNT)


def draw_pin(used_pins: Collection[str]) -> str:
    """Draw a PIN uniformly at random among drawable codes not in ``used_pins``.

    Rejection sampling keeps the draw uniform and is fast while the space is
    mostly free; past half full we enumerate the free codes instead so the cost
    stays bounded. Raises PinSpaceExhausted when nothing is free.
    """
    used = used_pins if isinstance(used_pins, set | frozenset) else set(used_pins)
    if len(used) < DRAWABLE_COUNT // 2:
        for _ in range(64):
            candidate = secrets.choice(drawable())
            if candidate not in used:
                return candidate
    free = [p for p in drawable() if p not in used]
    if not free:
        raise PinSpaceExhausted(
            f"all {DRAWABLE_COUNT} PIN codes are in use: remove customers before adding more"
        )
    return secrets.choice(free)
