"""cli/output.py human_bytes and human_duration: sizes and durations for people."""

from __future__ import annotations

import pytest

from radius_server.cli.output import human_bytes, human_duration


@pytest.mark.parametrize(
    ("octets", "shown"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1_234_567, "1.2 MB"),
        (999_949, "999.9 kB"),
        (999_950, "1.0 MB"),
        (3 * (1 << 32), "12.9 GB"),
        ((1 << 63) - 1, "9.2 EB"),
    ],
)
def test_human_bytes(octets: int, shown: str) -> None:
    assert human_bytes(octets) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "0s"),
        (0, "0s"),
        (59, "59s"),
        (65, "1m 05s"),
        (3600, "1h 00m"),
        (3725, "1h 02m"),
        (86400 + 4 * 3600 + 59, "1d 04h"),
    ],
)
def test_human_duration(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown
