"""PIN rules: format, trivial codes, drawing, exhaustion, fullness, uniformity."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from radius_server.rules import pins

TRIVIAL_REPEATED = [str(d) * 5 for d in range(10)]
TRIVIAL_RUNS = [
    "01234",
    "12345",
    "23456",
    "34567",
    "45678",
    "56789",
    "98765",
    "87654",
    "76543",
    "65432",
    "54321",
    "43210",
]


@pytest.mark.parametrize("pin", ["00000", "12345", "40517", "99999", "01230"])
def test_five_ascii_digits_are_valid(pin: str) -> None:
    """Exactly five ASCII digits pass format checks."""
    assert pins.is_valid_format(pin)
    pins.check_format(pin)


@pytest.mark.parametrize(
    "pin",
    [
        "1234",
        "123456",
        " 1234",
        "12345 ",
        " 12345",
        "１２３４５",  # fullwidth digits  # noqa: RUF001
        "١٢٣٤٥",  # Arabic-Indic digits
        "12a45",
        "",
        "12 45",
        "12345\n",
        "+1234",
        "-1234",
        "1_234",
    ],
)
def test_malformed_pins_are_refused(pin: str) -> None:
    """Anything but five ASCII digits is refused with a message that holds no PIN."""
    assert not pins.is_valid_format(pin)
    with pytest.raises(pins.PinError) as info:
        pins.check_format(pin)
    assert "5 digits" in str(info.value)


def test_non_string_is_not_a_pin() -> None:
    """An int that looks like a PIN is not one."""
    assert not pins.is_valid_format(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("pin", TRIVIAL_REPEATED + TRIVIAL_RUNS)
def test_trivial_codes_are_detected(pin: str) -> None:
    """Repeated digits and straight runs are trivial."""
    assert pins.is_trivial(pin)


@pytest.mark.parametrize("pin", ["12346", "78901", "90123", "11112", "13579", "01235", "21098"])
def test_near_trivial_codes_are_drawable(pin: str) -> None:
    """Wrap-around runs and near-misses are not trivial."""
    assert not pins.is_trivial(pin)


def test_drawable_space_is_everything_but_the_22_trivial_codes() -> None:
    """99,978 drawable codes: 100,000 less 10 repeated and 12 straight runs."""
    all_codes = {f"{n:05d}" for n in range(100_000)}
    trivial = {p for p in all_codes if pins.is_trivial(p)}
    assert trivial == set(TRIVIAL_REPEATED + TRIVIAL_RUNS)
    assert pins.DRAWABLE_COUNT == 99_978
    assert len(set(pins.drawable())) == 99_978
    assert set(pins.drawable()) == all_codes - trivial


def test_draw_from_empty_space_gives_valid_non_trivial_pin() -> None:
    """A drawn PIN is five ASCII digits and not trivial."""
    for _ in range(500):
        pin = pins.draw_pin(set())
        assert pins.is_valid_format(pin)
        assert not pins.is_trivial(pin)


@pytest.mark.parametrize("taken_share", [0.3, 0.7])
def test_draw_never_returns_a_used_code(taken_share: float) -> None:
    """Below and above half full (rejection sampling and enumeration), draws avoid used codes."""
    cut = int(pins.DRAWABLE_COUNT * taken_share)
    used = set(pins.drawable()[::2][: cut // 2]) | set(pins.drawable()[1::2][: cut - cut // 2])
    for _ in range(150):
        pin = pins.draw_pin(used)
        assert pin not in used
        assert pins.is_valid_format(pin) and not pins.is_trivial(pin)


def test_draw_accepts_any_collection() -> None:
    """A list or frozenset of used codes works like a set."""
    used = list(pins.drawable()[:-1])
    assert pins.draw_pin(used) == pins.drawable()[-1]
    assert pins.draw_pin(frozenset(used)) == pins.drawable()[-1]


def test_draw_with_one_code_free_returns_it() -> None:
    """With a single free code left, every draw returns exactly that code."""
    free = "40517"
    used = set(pins.drawable()) - {free}
    assert {pins.draw_pin(used) for _ in range(20)} == {free}


def test_trivial_codes_in_use_do_not_count_as_free_space() -> None:
    """Trivial codes held by admins neither block nor enable draws."""
    used = set(pins.drawable()) - {"40517"}
    used |= set(TRIVIAL_REPEATED)
    assert pins.draw_pin(used) == "40517"


def test_exhausted_space_raises() -> None:
    """Nothing free: a clear PinSpaceExhausted, which is a PinError."""
    with pytest.raises(pins.PinSpaceExhausted) as info:
        pins.draw_pin(set(pins.drawable()))
    assert isinstance(info.value, pins.PinError)
    assert "in use" in str(info.value)


def test_fullness_warns_at_ninety_percent() -> None:
    """The warning starts exactly at 90% of the drawable space."""
    threshold = math.ceil(pins.DRAWABLE_COUNT * 0.9)
    below = pins.fullness(pins.drawable()[: threshold - 1])
    at = pins.fullness(pins.drawable()[:threshold])
    assert not below.should_warn
    assert at.should_warn
    assert at.capacity == pins.DRAWABLE_COUNT
    assert at.used == threshold
    assert "90%" in at.message()
    assert str(threshold) in at.message()


def test_fullness_ignores_trivial_and_malformed_codes() -> None:
    """Only drawable codes count against the drawable capacity."""
    state = pins.fullness(["11111", "12345", "bogus", "1234", "40517"])
    assert state.used == 1
    assert state.ratio == pytest.approx(1 / pins.DRAWABLE_COUNT)
    assert not pins.fullness([]).should_warn


def _chi_square(observed: Counter[str], expected_share: dict[str, float], draws: int) -> float:
    return sum(
        (observed.get(key, 0) - draws * share) ** 2 / (draws * share)
        for key, share in expected_share.items()
    )


# 9 degrees of freedom: P(chi2 > 60) is about 1e-9, so a fair draw never trips it,
# while a biased one (e.g. sequential, or a digit never drawn) lands in the hundreds.
CHI2_BOUND_9_DF = 60.0


# Past half full each draw enumerates the free codes (milliseconds), so fewer draws there.
@pytest.mark.parametrize(("used_share", "draws"), [(0.0, 20_000), (0.6, 500)])
def test_draws_are_roughly_uniform(used_share: float, draws: int) -> None:
    """Chi-square over the first digit of many draws stays within a generous bound."""
    used = set(pins.drawable()[1::2][: int(pins.DRAWABLE_COUNT * used_share)])
    free = [p for p in pins.drawable() if p not in used]
    per_digit = Counter(p[0] for p in free)
    expected = {d: per_digit[d] / len(free) for d in "0123456789"}
    observed = Counter(pins.draw_pin(used)[0] for _ in range(draws))
    assert set(observed) == set("0123456789")
    assert _chi_square(observed, expected, draws) < CHI2_BOUND_9_DF
    # And draws are not sequential or repeating: nearly all are distinct.
    sample = [pins.draw_pin(used) for _ in range(100)]
    assert len(set(sample)) >= 95
