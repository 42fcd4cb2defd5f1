"""Validity dates as instants: a date means the whole day in the space's time zone.

An admin who types ``--valid-until 2027-01-31`` means "through the 31st", so a
bare date given as the end of a window is *inclusive*: access ends at the first
instant of the next day in the ``timezone`` setting. A bare date given as the
start begins at the first instant of that day. A datetime with a time of day is
an exact instant and is kept as given (no zone: read in the space's zone).

The store keeps the resulting instants (UTC); the decision core compares them
with the clock it is handed and derives Session-Timeout from the same instant,
so it needs no zone. Pure: the zone object is passed in, no clock is read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"

# A date or datetime as typed by an admin or read from a CSV cell.
DateOrMoment = date | datetime


def load_zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (``UTC`` needs no zone database); ValueError if unknown."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known IANA time zone (e.g. Europe/Berlin)") from None


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """The first instant of ``day`` in ``zone``, in UTC.

    Midnight can be missing (a DST jump at 00:00, e.g. America/Santiago):
    fold=0 then reads it with the offset before the jump, which is the first
    instant that day really has.
    """
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def window_start(value: DateOrMoment, zone: tzinfo) -> datetime:
    """Where access begins: a date at 00:00 of that day in ``zone``, a datetime as given."""
    if isinstance(value, datetime):
        return _instant(value, zone)
    return start_of_day(value, zone)


def window_end(value: DateOrMoment, zone: tzinfo) -> datetime:
    """Where access ends: a date *through* that day in ``zone`` (00:00 of the next day)."""
    if isinstance(value, datetime):
        return _instant(value, zone)
    return start_of_day(value + timedelta(days=1), zone)


def _instant(moment: datetime, zone: tzinfo) -> datetime:
    # In UTC: SQLite keeps a datetime's clock reading and drops its offset.
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def show_start(instant: datetime | None, zone: tzinfo) -> str | None:
    """``valid_from`` for people: the date when it starts a day in ``zone``, else local time."""
    return _show(instant, zone, end=False)


def show_end(instant: datetime | None, zone: tzinfo) -> str | None:
    """``valid_until`` for people: the last day it includes, as typed, when it ends a day."""
    return _show(instant, zone, end=True)


def _show(instant: datetime | None, zone: tzinfo, *, end: bool) -> str | None:
    if instant is None:
        return None
    local = instant.astimezone(zone)
    day = local.date() - timedelta(days=1) if end else local.date()
    if start_of_day(local.date(), zone) == instant.astimezone(UTC):
        return day.isoformat()
    return local.isoformat(sep=" ", timespec="minutes")
