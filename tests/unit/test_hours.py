"""Weekly access hours (rules/hours.py): parsing, canonical text, evaluation across
midnight, week boundaries and DST changes in a northern and a southern zone."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from radius_server.rules.hours import NEVER, canonical_hours, parse_hours, wall_to_instant

MADRID = ZoneInfo("Europe/Madrid")
SYDNEY = ZoneInfo("Australia/Sydney")


def local(zone: ZoneInfo, text: str, fold: int = 0) -> float:
    """POSIX seconds of a wall-clock time in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold).timestamp()


def utc(text: str) -> float:
    return datetime.fromisoformat(text + "+00:00").timestamp()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Mon-Fri 08:00-19:00; Sat 10:00-14:00", "Mon-Fri 08:00-19:00; Sat 10:00-14:00"),
        ("mon-fri 8:00-19:00;sat 10:00-14:00;", "Mon-Fri 08:00-19:00; Sat 10:00-14:00"),
        ("Monday 09:00-17:00", "Mon 09:00-17:00"),
        ("Fri-Mon 22:00-06:00", "Fri-Mon 22:00-06:00"),
        ("Sun 22:00-06:00", "Sun 22:00-06:00"),
        ("Mon,Wed,Fri 08:00-12:00, 14:00-18:00", "Mon,Wed,Fri 08:00-12:00,14:00-18:00"),
        ("Sat-Sun", "Sat-Sun 00:00-24:00"),
        ("daily", "Mon-Sun 00:00-24:00"),
        ("every day 07:00-23:00", "Mon-Sun 07:00-23:00"),
        ("Mon 00:00-24:00; Tue 00:00-24:00", "Mon-Tue 00:00-24:00"),
        ("Mon 22:00-24:00; Tue 00:00-06:00", "Mon 22:00-06:00"),
        # 24 hours from 15:00: not "15:00-15:00", which would read as empty.
        ("Mon 15:00-24:00; Tue 00:00-15:00", "Mon 15:00-24:00; Tue 00:00-15:00"),
        ("Mon 08:00-12:00; Mon 11:00-14:00", "Mon 08:00-14:00"),
        ("Mon 08:00-12:00; Mon 12:00-14:00", "Mon 08:00-14:00"),
        ("Sat-Mon 10:00-12:00; Wed 10:00-12:00", "Sat-Mon,Wed 10:00-12:00"),
    ],
)
def test_canonical_text(text: str, canonical: str) -> None:
    hours = parse_hours(text)
    assert str(hours) == canonical
    again = parse_hours(canonical)
    assert again == hours
    assert str(again) == canonical


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "empty"),
        ("  ;  ", "empty"),
        ("Funday 08:00-09:00", "'funday'"),
        ("Mon 08:00", "'08:00'"),
        ("Mon 08:00-08:00", "'08:00-08:00'"),
        ("Mon 24:00-10:00", "'24:00'"),
        ("Mon 10:60-11:00", "'10:60'"),
        ("Mon-Fri08:00-19:00", "'Mon-Fri08:00-19:00'"),
        ("Mon-Xyz 08:00-09:00", "'xyz'"),
        ("Mon 08:00-09:00; Tue 9-10", "'9'"),
    ],
)
def test_bad_text_is_refused_naming_the_part(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="hours: ") as caught:
        parse_hours(text)
    assert named in str(caught.value)


def test_whole_week_is_always() -> None:
    for text in (
        "daily",
        "Mon-Sun 00:00-12:00; Mon-Sun 12:00-24:00",
        "daily 06:00-05:00; daily 05:00-06:00",
    ):
        hours = parse_hours(text)
        assert hours.always
        check = hours.check(utc("2026-12-02 10:00"), MADRID)
        assert (check.allowed, check.ends) == (True, None)


# (zone, hours, now, allowed, end of access or None), times as wall clock in the zone.
CASES = [
    # Plain daytime window, both ends (end exclusive).
    (MADRID, "Mon-Fri 08:00-19:00", "2026-12-02 10:00", True, "2026-12-02 19:00"),
    (MADRID, "Mon-Fri 08:00-19:00", "2026-12-02 08:00", True, "2026-12-02 19:00"),
    (MADRID, "Mon-Fri 08:00-19:00", "2026-12-02 07:59", False, None),
    (MADRID, "Mon-Fri 08:00-19:00", "2026-12-02 19:00", False, None),
    (MADRID, "Mon-Fri 08:00-19:00", "2026-12-05 10:00", False, None),
    # Across midnight, into the next day.
    (MADRID, "Fri 22:00-06:00", "2026-12-04 23:00", True, "2026-12-05 06:00"),
    (MADRID, "Fri 22:00-06:00", "2026-12-05 03:00", True, "2026-12-05 06:00"),
    (MADRID, "Fri 22:00-06:00", "2026-12-05 06:00", False, None),
    # Across the week boundary, Sunday night into Monday.
    (MADRID, "Sun 22:00-06:00", "2026-12-06 23:00", True, "2026-12-07 06:00"),
    (MADRID, "Sun 22:00-06:00", "2026-12-07 05:59", True, "2026-12-07 06:00"),
    (MADRID, "Sat-Sun; Mon 00:00-08:00", "2026-12-05 12:00", True, "2026-12-07 08:00"),
    (MADRID, "Mon-Sun 22:00-06:00", "2026-12-07 23:00", True, "2026-12-08 06:00"),
    # Adjacent whole days are one stretch.
    (MADRID, "Mon 00:00-24:00; Tue 00:00-24:00", "2026-12-07 10:00", True, "2026-12-09 00:00"),
    (MADRID, "Sun", "2026-12-06 23:59", True, "2026-12-07 00:00"),
]


@pytest.mark.parametrize(("zone", "text", "now", "allowed", "ends"), CASES)
def test_evaluation(zone: ZoneInfo, text: str, now: str, allowed: bool, ends: str | None) -> None:
    check = parse_hours(text).check(local(zone, now), zone)
    assert check.allowed is allowed
    assert check.ends == (None if ends is None else local(zone, ends))


# DST: (zone, hours, now as UTC, allowed, end as UTC). Europe/Madrid springs forward on
# 2026-03-29 at 01:00 UTC (02:00 -> 03:00) and falls back on 2026-10-25 at 01:00 UTC
# (03:00 -> 02:00); Australia/Sydney falls back on 2026-04-04 at 16:00 UTC (03:00 ->
# 02:00) and springs forward on 2026-10-03 at 16:00 UTC (02:00 -> 03:00).
DST_CASES = [
    # A night window over the spring-forward is an hour shorter: 20:00 CET to 08:00 CEST.
    (MADRID, "Sat 20:00-08:00", "2026-03-28 20:00", True, "2026-03-29 06:00"),
    # An end inside the gap (02:30 never shows): access ends at the transition.
    (MADRID, "Sat 22:00-02:30", "2026-03-28 22:00", True, "2026-03-29 01:00"),
    # A start inside the gap: the clock jumps past it into the window.
    (MADRID, "Sun 02:30-05:00", "2026-03-29 01:10", True, "2026-03-29 03:00"),
    (MADRID, "Sun 02:30-05:00", "2026-03-29 00:59", False, None),
    # A day window over the fall-back is an hour longer: 00:00 CEST to 12:00 CET.
    (MADRID, "Sun 00:00-12:00", "2026-10-24 22:30", True, "2026-10-25 11:00"),
    # An end that shows twice: the first 02:30 (CEST) ends it...
    (MADRID, "Sat 22:00-02:30", "2026-10-24 21:00", True, "2026-10-25 00:30"),
    # ... and in the repeated hour (02:15 CET) the wall clock is inside again, to 02:30 CET.
    (MADRID, "Sat 22:00-02:30", "2026-10-25 01:15", True, "2026-10-25 01:30"),
    (MADRID, "Sat 22:00-02:30", "2026-10-25 00:45", False, None),
    # Southern hemisphere: the April night is an hour longer, the October one shorter.
    (SYDNEY, "Sat 20:00-08:00", "2026-04-04 10:00", True, "2026-04-04 22:00"),
    (SYDNEY, "Sat 20:00-08:00", "2026-10-03 10:00", True, "2026-10-03 21:00"),
    (SYDNEY, "Sun 02:00-02:30", "2026-10-03 16:10", False, None),
]


@pytest.mark.parametrize(("zone", "text", "now", "allowed", "ends"), DST_CASES)
def test_evaluation_across_dst(
    zone: ZoneInfo, text: str, now: str, allowed: bool, ends: str | None
) -> None:
    check = parse_hours(text).check(utc(now), zone)
    assert check.allowed is allowed
    assert check.ends == (None if ends is None else utc(ends))


def test_the_same_stretch_answers_from_the_cache_and_the_next_does_not() -> None:
    hours = parse_hours("Mon-Fri 08:00-19:00")
    first = hours.check(local(MADRID, "2026-12-02 09:00"), MADRID)
    later = hours.check(local(MADRID, "2026-12-02 18:59"), MADRID)
    assert first.ends == later.ends == local(MADRID, "2026-12-02 19:00")
    assert not hours.check(local(MADRID, "2026-12-02 19:00"), MADRID).allowed
    next_day = hours.check(local(MADRID, "2026-12-03 09:00"), MADRID)
    assert next_day.ends == local(MADRID, "2026-12-03 19:00")
    # Another zone is another cache entry.
    tokyo = ZoneInfo("Asia/Tokyo")
    assert hours.check(local(tokyo, "2026-12-03 09:00"), tokyo).ends == local(
        tokyo, "2026-12-03 19:00"
    )


def test_never_allows_nothing() -> None:
    assert str(NEVER) == "never"
    assert not NEVER.check(utc("2026-12-02 10:00"), MADRID).allowed


def test_wall_to_instant_rules() -> None:
    gap = datetime.fromisoformat("2026-03-29 02:30")
    assert wall_to_instant(gap, MADRID, utc("2026-03-28 00:00")) == utc("2026-03-29 01:00")
    twice = datetime.fromisoformat("2026-10-25 02:30")
    assert wall_to_instant(twice, MADRID, utc("2026-10-24 00:00")) == utc("2026-10-25 00:30")
    assert wall_to_instant(twice, MADRID, utc("2026-10-25 00:30")) == utc("2026-10-25 01:30")


def test_no_cached_answer_across_a_fall_back() -> None:
    # Sun 02:30-05:00 on Madrid's fall-back day: at 02:45 CEST access runs to 05:00 CET,
    # but after the change the wall clock shows 02:00-02:30 CET, before the window.
    hours = parse_hours("Sun 02:30-05:00")
    first = hours.check(utc("2026-10-25 00:45"), MADRID)
    assert (first.allowed, first.ends) == (True, utc("2026-10-25 04:00"))
    assert not hours.check(utc("2026-10-25 01:10"), MADRID).allowed
    assert hours.check(utc("2026-10-25 01:40"), MADRID).allowed


def test_canonical_text_round_trips_for_many_random_sets() -> None:
    rng = random.Random(13)
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for _ in range(2000):
        entries = []
        for _ in range(rng.randint(1, 4)):
            first, last = rng.randrange(7), rng.randrange(7)
            days = names[first] if rng.random() < 0.5 else f"{names[first]}-{names[last]}"
            start, end = rng.randrange(96) * 15, rng.randrange(1, 97) * 15
            if start == end % 1440:
                continue
            entries.append(
                f"{days} {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
            )
        if not entries:
            continue
        hours = parse_hours("; ".join(entries))
        again = parse_hours(str(hours))
        assert again == hours
        assert str(again) == str(hours)


def test_a_missing_semicolon_gets_a_hint() -> None:
    with pytest.raises(ValueError, match="separate entries with ';'"):
        parse_hours("Mon-Fri 08:00-19:00 Sat 10:00-14:00")


def test_canonical_hours_is_what_the_store_keeps() -> None:
    assert canonical_hours("mon-fri 8:00-19:00") == "Mon-Fri 08:00-19:00"
    assert canonical_hours("daily") == "Mon-Sun 00:00-24:00"
    with pytest.raises(ValueError, match="'funday'"):
        canonical_hours("funday")
