"""PinPool: the PINs in use as one byte per code, and draws among the free drawable ones."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from radius_server.rules import pins
from radius_server.rules.pin_pool import PinPool


def test_taken_codes_are_known_and_never_drawn() -> None:
    """Given PINs are taken; a drawn PIN is drawable, not taken before, and taken after."""
    pool = PinPool(["40517", "59326", "11111"])
    assert "40517" in pool and "59326" in pool and "11111" in pool
    assert "70263" not in pool and "not-a-pin" not in pool
    drawn = {pool.draw() for _ in range(500)}
    assert len(drawn) == 500
    assert not drawn & {"40517", "59326", "11111"}
    assert all(pins.is_valid_format(p) and not pins.is_trivial(p) for p in drawn)
    assert all(p in pool for p in drawn)


def test_length_and_fullness_count_drawable_codes_as_pins_fullness_does() -> None:
    """A trivial code given by hand is taken but not counted against the drawable space."""
    taken = ["40517", "11111", "12345", "59326", "59326", "bad"]
    pool = PinPool(taken)
    assert len(pool) == 2
    assert pool.fullness() == pins.fullness(set(taken))


def test_a_nearly_full_space_draws_every_free_code_then_refuses() -> None:
    """Past half full the free codes are listed once: each is drawn once, then exhaustion."""
    drawable = pins.drawable()
    free = set(drawable[::1000])
    pool = PinPool(p for p in drawable if p not in free)
    assert pool.fullness().should_warn
    # A code taken after the list was made is skipped, not drawn twice.
    first = pool.draw()
    late = sorted(free - {first})[0]
    pool.add(late)
    rest = {pool.draw() for _ in range(len(free) - 2)}
    assert rest | {first, late} == free
    with pytest.raises(pins.PinSpaceExhausted):
        pool.draw()
    assert len(pool) == pins.DRAWABLE_COUNT


def test_draws_from_a_full_list_are_spread_over_the_free_codes() -> None:
    """Uniform, roughly: 10 free codes listed, 2,000 copies of the pool each drawing once."""
    drawable = pins.drawable()
    free = drawable[5000:5011]
    base = PinPool(p for p in drawable if p not in set(free))
    first = base.draw()  # lists the free codes once; each copy keeps the list
    counts: Counter[str] = Counter(copy.deepcopy(base).draw() for _ in range(2000))
    assert set(counts) == set(free) - {first}
    # Each expected 200 times; 100..300 is far beyond any plausible chance deviation.
    assert all(100 < n < 300 for n in counts.values()), counts
