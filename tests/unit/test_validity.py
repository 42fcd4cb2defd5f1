"""Validity dates are whole days in the space's time zone: table-driven, DST days included."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from radius_server.protocol import codes as c
from radius_server.rules import policy
from radius_server.rules.decision import Outcome, Reason
from radius_server.rules.validity import (
    load_zone,
    show_end,
    show_start,
    window_end,
    window_start,
)
from tests.unit.test_policy import BASE

BERLIN = ZoneInfo("Europe/Berlin")
SANTIAGO = ZoneInfo("America/Santiago")


def utc(*parts: int) -> datetime:
    """A UTC instant."""
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "starts", "ends"),
    [
        # The bug report's case: through the 31st, not until it begins.
        (UTC, date(2027, 1, 31), utc(2027, 1, 31), utc(2027, 2, 1)),
        (BERLIN, date(2027, 1, 31), utc(2027, 1, 30, 23), utc(2027, 1, 31, 23)),
        # Clocks go forward on 2027-03-28 in Berlin: a 23-hour day.
        (BERLIN, date(2027, 3, 28), utc(2027, 3, 27, 23), utc(2027, 3, 28, 22)),
        # Clocks go back on 2027-10-31: a 25-hour day.
        (BERLIN, date(2027, 10, 31), utc(2027, 10, 30, 22), utc(2027, 10, 31, 23)),
        # Santiago skips 00:00-01:00 on 2026-09-06: the day starts at 01:00 (-03).
        (SANTIAGO, date(2026, 9, 6), utc(2026, 9, 6, 4), utc(2026, 9, 7, 3)),
        (SANTIAGO, date(2026, 9, 5), utc(2026, 9, 5, 4), utc(2026, 9, 6, 4)),
    ],
)
def test_a_date_is_the_whole_day_in_the_zone(
    zone: ZoneInfo, day: date, starts: datetime, ends: datetime
) -> None:
    """valid_from starts at that day's first instant; valid_until ends with the day."""
    assert window_start(day, zone) == starts
    assert window_end(day, zone) == ends
    # And an admin reading them back sees the day they typed.
    assert show_start(starts, zone) == day.isoformat()
    assert show_end(ends, zone) == day.isoformat()


@pytest.mark.parametrize("zone", [UTC, BERLIN])
def test_a_datetime_is_an_exact_instant(zone: ZoneInfo) -> None:
    """A time of day is kept; with an offset it is that instant, without one it is local."""
    moment = datetime(2027, 1, 31, 14, 30, tzinfo=UTC)
    assert window_end(moment, zone) == moment
    assert window_start(moment, zone) == moment
    local = datetime(2027, 1, 31, 14, 30)
    assert window_end(local, zone) == local.replace(tzinfo=zone).astimezone(UTC)
    assert show_end(moment, zone) == moment.astimezone(zone).isoformat(" ", "minutes")


@pytest.mark.parametrize(
    ("zone", "now", "outcome", "reason", "session_timeout"),
    [
        # Last second of 2027-01-31 in Berlin (22:59:59 UTC): still in, for one second.
        (BERLIN, utc(2027, 1, 31, 22, 59, 59), Outcome.ACCEPT, Reason.OK, 1),
        (BERLIN, utc(2027, 1, 31, 23), Outcome.REJECT, Reason.EXPIRED, None),
        # Noon on the last day: Session-Timeout runs to the end of that day, not its start.
        (BERLIN, utc(2027, 1, 31, 11), Outcome.ACCEPT, Reason.OK, 12 * 3600),
        (UTC, utc(2027, 1, 31, 12), Outcome.ACCEPT, Reason.OK, 12 * 3600),
        (UTC, utc(2027, 2, 1), Outcome.REJECT, Reason.EXPIRED, None),
        # Before the first day: 2027-01-01 starts at 23:00 UTC the day before in Berlin.
        (BERLIN, utc(2026, 12, 31, 22, 59), Outcome.REJECT, Reason.NOT_YET_VALID, None),
        (BERLIN, utc(2026, 12, 31, 23), Outcome.ACCEPT, Reason.OK, 31 * 86400),
    ],
)
def test_decisions_follow_inclusive_days(
    zone: ZoneInfo,
    now: datetime,
    outcome: Outcome,
    reason: Reason,
    session_timeout: int | None,
) -> None:
    """A member valid 2027-01-01..2027-01-31: the pure policy with the instants in the zone."""
    member = replace(
        BASE,
        valid_from=window_start(date(2027, 1, 1), zone).timestamp(),
        valid_until=window_end(date(2027, 1, 31), zone).timestamp(),
    )
    decision = policy.decide(member, policy.pap_check(b"24680"), now.timestamp())
    assert (decision.outcome, decision.reason) == (outcome, reason)
    if session_timeout is not None:
        assert (c.SESSION_TIMEOUT, struct.pack("!I", session_timeout)) in decision.attributes


def test_zone_names_are_checked() -> None:
    """UTC needs no zone database; a made-up name is a ValueError naming it."""
    assert load_zone("UTC") is UTC
    assert load_zone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Olympus_Mons", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="time zone"):
            load_zone(bad)
