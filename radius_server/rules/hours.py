"""Weekly access hours: parse an admin's text once, then answer "allowed now, until when?".

Text (case-insensitive), entries separated by ``;``::

    Mon-Fri 08:00-19:00; Sat 10:00-14:00
    Mon,Wed,Fri 08:00-12:00,14:00-18:00
    Fri-Mon 22:00-06:00        (day ranges may wrap; a window may cross midnight)
    Sat-Sun                    (days without times: the whole day)
    daily 07:00-23:00          (``daily`` is ``Mon-Sun``)

An entry is DAYS [TIMES]: DAYS a ``,``-list of days (``Mon``..``Sun``, or the full
English name) or day ranges; TIMES a ``,``-list of ``HH:MM-HH:MM`` windows (``24:00``
may end one). ``,`` never separates entries, only days or windows within one, so
``Mon 08:00-12:00, 14:00-18:00`` means what it looks like. A window whose end is at or
before its start (``22:00-06:00``) runs from the start day into the next day;
``00:00-24:00`` is the whole day; an empty window (``08:00-08:00``) is refused.

All windows are merged into one set of weekly wall-clock intervals, so overlapping
and adjacent windows are one continuous stretch of access (``Mon 00:00-24:00; Tue
00:00-24:00`` ends Tuesday at midnight, not Monday), and ``str()`` gives one
canonical text for equal sets, which is what the store keeps.

Time zones and DST (the rule, documented in the README): windows are wall-clock
times in the location's zone, so on DST days ``08:00-19:00`` lasts 10 or 12 real
hours. Whether access is allowed is read on the wall clock at ``now``. The end of
the current access is the first instant after ``now`` at which the wall clock
reaches the window's end: a time skipped by a spring-forward gap ends access at the
transition instant (the first wall time after the gap); a time that occurs twice
(fall back) ends it at its first occurrence after ``now``. So a window ending at
02:30 on a fall-back night ends at the first 02:30, and, the wall clock showing
02:00-02:30 again an hour later, the member may sign in again for that half hour.

Pure: the zone object is handed in; parsing precomputes sorted interval bounds, so
evaluation is one local-time conversion, one bisect and one wall-to-instant
conversion, and later sign-ins in the same stretch (same zone, no clock change
before its end) are answered from a one-entry cache per zone.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Final

DAY = 86400
WEEK = 7 * DAY
_DAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES: Final = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_DAY_INDEX: Final = {
    **{n.lower(): i for i, n in enumerate(_DAY_NAMES)},
    **{n: i for i, n in enumerate(_FULL_NAMES)},
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_WINDOW = re.compile(r"^([0-9:]+)\s*-\s*([0-9:]+)$")
_DAYS_THEN_TIMES = re.compile(r"^([A-Za-z,\s-]+?)(?:\s+(\d.*))?$")


@dataclass(frozen=True, slots=True)
class HoursCheck:
    """The answer at one instant: allowed or not; if allowed, until when (None: no end)."""

    allowed: bool
    ends: float | None = None


_ALWAYS_OK: Final = HoursCheck(True, None)
_OUTSIDE: Final = HoursCheck(False, None)


class Hours:
    """A parsed set of weekly windows. Build with :func:`parse_hours`; ``str()`` is canonical."""

    __slots__ = ("_cache", "_ends", "_starts", "_text", "_wrap_end", "always")

    def __init__(self, intervals: list[tuple[int, int]]) -> None:
        merged = _merge(intervals)
        self._starts = [s for s, _ in merged]
        self._ends = [e for _, e in merged]
        # Whole week covered: access never ends.
        self.always = merged == [(0, WEEK)]
        # The stretch ending at the week's end goes on into Monday when Monday starts
        # at 00:00: the end of access is then the end of Monday's first interval.
        self._wrap_end = (
            WEEK + self._ends[0]
            if merged and not self.always and merged[0][0] == 0 and merged[-1][1] == WEEK
            else WEEK
        )
        self._text = _render(merged)
        # zone -> (checked at, answer): inside [checked at, answer.ends) access is
        # continuous, so later sign-ins in the same stretch skip the local-time and
        # wall-to-instant conversions (and allocate nothing).
        self._cache: dict[tzinfo, tuple[float, HoursCheck]] = {}

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Hours({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hours):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    def __hash__(self) -> int:
        return hash(self._text)

    @property
    def intervals(self) -> list[tuple[int, int]]:
        """Merged weekly intervals as (start, end) seconds from Monday 00:00, end exclusive."""
        return list(zip(self._starts, self._ends, strict=True))

    def check(self, now: float, zone: tzinfo) -> HoursCheck:
        """Whether access is allowed at POSIX ``now`` in ``zone``, and until which instant."""
        if self.always:
            return _ALWAYS_OK
        cached = self._cache.get(zone)
        if cached is not None and cached[0] <= now < cached[1].ends:  # type: ignore[operator]
            return cached[1]
        local = datetime.fromtimestamp(now, zone)
        second = (
            local.weekday() * DAY
            + local.hour * 3600
            + local.minute * 60
            + local.second
            + local.microsecond / 1e6
        )
        i = bisect.bisect_right(self._starts, second) - 1
        if i < 0 or second >= self._ends[i]:
            return _OUTSIDE
        end = self._ends[i]
        if end == WEEK:
            end = self._wrap_end
        monday = local.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0) - (
            timedelta(days=local.weekday())
        )
        ends = wall_to_instant(monday + timedelta(seconds=end), zone, now)
        answer = HoursCheck(True, ends)
        # Remembered only when no clock change lies between: a fall back could set the
        # wall clock back before the window's start, outside it for a while.
        if datetime.fromtimestamp(ends, zone).utcoffset() == local.utcoffset():
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[zone] = (now, answer)
        return answer


def wall_to_instant(wall: datetime, zone: tzinfo, after: float) -> float:
    """The first instant after ``after`` at which the wall clock in ``zone`` reaches ``wall``.

    ``wall`` is naive. A time in a spring-forward gap gives the transition instant; a
    time that occurs twice gives its first occurrence after ``after``.
    """
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    second = wall.replace(tzinfo=zone, fold=1).timestamp()
    if first == second:
        return first
    if first < second:  # repeated (fall back): fold=0 is the earlier occurrence
        return first if first > after else second
    # Skipped (spring forward): fold=1 reads it with the later offset, fold=0 with the
    # earlier one, so the transition lies between; find it to the second.
    low, high = second, first  # offset(low) is the old one, offset(high) the new one
    old = _offset(low, zone)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, zone) == old:
            low = middle
        else:
            high = middle
    return float(high)


def _offset(instant: float, zone: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(instant, zone).utcoffset()


def parse_hours(text: str) -> Hours:
    """Parse admin text into :class:`Hours`; ValueError names the part that is wrong."""
    entries = [e.strip() for e in text.split(";")]
    if not any(entries):
        raise ValueError("hours: empty (write e.g. 'Mon-Fri 08:00-19:00')")
    intervals: list[tuple[int, int]] = []
    for entry in entries:
        if not entry:
            continue  # a trailing or doubled ";" is harmless
        intervals += _parse_entry(entry)
    return Hours(intervals)


def canonical_hours(text: str) -> str:
    """The canonical form of admin text, as the store keeps it; ValueError names the bad part."""
    return str(parse_hours(text))


def _parse_entry(entry: str) -> list[tuple[int, int]]:
    match = _DAYS_THEN_TIMES.match(entry)
    if match is None:
        raise ValueError(f"hours: {entry!r} does not start with days (e.g. 'Mon-Fri 08:00-19:00')")
    days = _parse_days(match.group(1))
    times = match.group(2)
    windows = [(0, DAY)] if times is None else [_parse_window(w) for w in times.split(",")]
    return [(day * DAY + start, day * DAY + end) for day in days for start, end in windows]


def _parse_days(text: str) -> list[int]:
    words = text.strip().lower()
    if words in ("daily", "every day"):
        return list(range(7))
    days: list[int] = []
    for item in (i.strip() for i in words.split(",")):
        if "-" in item:
            first, _, last = (p.strip() for p in item.partition("-"))
            start, stop = _day(first), _day(last)
            days += [(start + k) % 7 for k in range((stop - start) % 7 + 1)]
        else:
            days.append(_day(item))
    return days


def _day(word: str) -> int:
    found = _DAY_INDEX.get(word)
    if found is None:
        raise ValueError(f"hours: {word!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
    return found


def _parse_window(text: str) -> tuple[int, int]:
    match = _WINDOW.match(text.strip())
    if match is None:
        hint = " (separate entries with ';')" if any(ch.isalpha() for ch in text) else ""
        raise ValueError(f"hours: {text.strip()!r} is not a window like 08:00-19:00{hint}")
    start = _time(match.group(1), end=False)
    end = _time(match.group(2), end=True)
    if start == end:
        raise ValueError(f"hours: {text.strip()!r} is empty")
    # At or before its start: the window runs into the next day.
    return (start, end) if end > start else (start, end + DAY)


def _time(text: str, *, end: bool) -> int:
    match = _TIME.match(text)
    if match is not None:
        hour, minute = int(match.group(1)), int(match.group(2))
        if (hour < 24 and minute < 60) or (end and hour == 24 and minute == 0):
            return hour * 3600 + minute * 60
    raise ValueError(f"hours: {text!r} is not a time (00:00 to 23:59, or 24:00 as an end)")


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Fold intervals into [0, WEEK), split at the week's end, sort, join overlaps."""
    pieces: list[tuple[int, int]] = []
    for start, end in intervals:
        length = min(end - start, WEEK)
        begin = start % WEEK
        if begin + length <= WEEK:
            pieces.append((begin, begin + length))
        else:
            pieces.append((begin, WEEK))
            pieces.append((0, begin + length - WEEK))
    pieces.sort()
    merged: list[tuple[int, int]] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _render(merged: list[tuple[int, int]]) -> str:
    """Canonical text: per day its windows, an overnight window kept on its start day,
    days with the same windows grouped (``Mon-Fri``, ``Sat-Mon``, ``Mon,Wed``)."""
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for start, end in merged:
        day = start // DAY
        while start < end:
            stop = min(end, (day + 1) * DAY)
            per_day[day].append((start - day * DAY, stop - day * DAY))
            start, day = stop, day + 1
    # Join "22:00-24:00" with the next day's "00:00-06:00" into "22:00-06:00" on the
    # first day, when the morning piece ends before the evening one starts (a 24-hour
    # "15:00-15:00" would read as empty).
    for day in range(7):
        today, tomorrow = per_day[day], per_day[(day + 1) % 7]
        if (
            today
            and tomorrow
            and today[-1][1] == DAY
            and today[-1][0] > 0
            and tomorrow[0][0] == 0
            and tomorrow[0][1] < DAY
            and tomorrow[0][1] < today[-1][0]
        ):
            today[-1] = (today[-1][0], DAY + tomorrow[0][1])
            tomorrow.pop(0)
    groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for day in range(7):
        if per_day[day]:
            groups.setdefault(tuple(per_day[day]), []).append(day)
    entries = sorted((days, windows) for windows, days in groups.items())
    if not entries:
        return "never"
    return "; ".join(f"{_render_days(days)} {_render_windows(w)}" for days, w in entries)


def _render_days(days: list[int]) -> str:
    chosen = set(days)
    if len(chosen) == 7:
        return "Mon-Sun"
    # Start after a day not chosen, so a run across Sunday stays one run (Sat-Mon).
    begin = next(d for d in range(7) if (d - 1) % 7 not in chosen and d in chosen)
    runs: list[list[int]] = []
    for k in range(7):
        day = (begin + k) % 7
        if day not in chosen:
            continue
        if runs and runs[-1][-1] == (day - 1) % 7:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [
        _DAY_NAMES[r[0]] if len(r) == 1 else f"{_DAY_NAMES[r[0]]}-{_DAY_NAMES[r[-1]]}"
        for r in sorted(runs, key=lambda r: min(r) if r[0] <= r[-1] else -1)
    ]
    return ",".join(parts)


def _render_windows(windows: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{_clock(s)}-{_clock(e % DAY if e > DAY else e)}" for s, e in windows)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


# No access at any time: what hours that cannot be read fail closed to.
NEVER: Final = Hours([])
