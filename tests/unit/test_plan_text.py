"""What an admin types for plans: names, numbers, hours, reply attributes (rules/plan_text.py)."""

from __future__ import annotations

import pytest

from radius_server.rules import plan_text
from radius_server.rules.validation import TextError


@pytest.mark.parametrize(
    ("typed", "pair"),
    [
        ("Filter-Id = members", ("Filter-Id", "members")),
        ('Filter-Id = "members"', ("Filter-Id", "members")),
        ("Aruba-User-Role='staff room'", ("Aruba-User-Role", "staff room")),
        ("Tunnel-Private-Group-Id:1 = 20", ("Tunnel-Private-Group-Id:1", "20")),
        ("Reply-Message = a = b", ("Reply-Message", "a = b")),
        ('Filter-Id = ""', ("Filter-Id", "")),
        ('Filter-Id = "say "hi""', ("Filter-Id", 'say "hi"')),
    ],
)
def test_reply_attributes_parse_and_print_back(typed: str, pair: tuple[str, str]) -> None:
    assert plan_text.parse_reply_attribute(typed) == pair
    assert plan_text.parse_reply_attribute(plan_text.format_reply_attribute(*pair)) == pair


@pytest.mark.parametrize(
    ("typed", "needle"),
    [
        ("Filter-Id", "Name = value"),
        ("= members", "Name = value"),
        ("Filter Id = x", "not a reply attribute name"),
        ("Filter-Id = a\x1bb", "control character"),
        ("Filter-Id = " + "x" * 254, "longer than 253"),
    ],
)
def test_bad_reply_attributes_are_refused_naming_the_problem(typed: str, needle: str) -> None:
    with pytest.raises(TextError, match=needle):
        plan_text.parse_reply_attribute(typed)


def test_a_plan_has_a_bounded_number_of_reply_attributes() -> None:
    many = tuple(("Filter-Id", str(n)) for n in range(plan_text.MAX_REPLY_ATTRIBUTES + 1))
    with pytest.raises(TextError, match="at most"):
        plan_text.check_reply_attributes(many)
    assert len(plan_text.check_reply_attributes(many[:-1])) == plan_text.MAX_REPLY_ATTRIBUTES


@pytest.mark.parametrize(
    ("field", "typed", "value"),
    [
        ("vlan", "20", 20),
        ("vlan", "none", None),
        ("vlan", " OFF ", None),
        ("device_limit", "0", 0),
        ("down_kbps", "4294967", 4_294_967),
    ],
)
def test_numbers_as_typed(field: str, typed: str, value: int | None) -> None:
    assert plan_text.parse_number(field, typed) == value


@pytest.mark.parametrize(
    ("field", "typed"),
    [
        ("vlan", "0"),
        ("vlan", "4095"),
        ("vlan", "-1"),
        ("vlan", "2x"),
        ("session_timeout", "0"),
        ("interim_interval", "59"),
        ("down_kbps", "4294968"),
    ],
)
def test_numbers_out_of_range_name_the_field(field: str, typed: str) -> None:
    with pytest.raises(TextError, match=field.replace("_", "-")):
        plan_text.parse_number(field, typed)


def test_a_bool_is_not_a_number() -> None:
    with pytest.raises(TextError, match="vlan"):
        plan_text.check_number("vlan", True)


@pytest.mark.parametrize("name", ["", "   ", "a,b", "tab\there", "x" * 65])
def test_plan_names_are_short_printable_and_without_commas(name: str) -> None:
    with pytest.raises(TextError, match="plan name"):
        plan_text.check_plan_name(name)


def test_names_are_trimmed_and_hours_collapsed() -> None:
    assert plan_text.check_plan_name("  Hot desk ") == "Hot desk"
    assert plan_text.check_location_name("Sala Á") == "Sala Á"
    # Hours are kept in their canonical text (rules/hours.py).
    assert plan_text.check_hours(" mon-fri   8:00-19:00 ") == "Mon-Fri 08:00-19:00"
    for bad in ("   ", "Mon 25:00-26:00", "Funday"):
        with pytest.raises(TextError, match=r"^hours"):
            plan_text.check_hours(bad)


def test_location_lists_keep_order_and_drop_repeats() -> None:
    assert plan_text.split_names(" Madrid, Bcn,,Madrid ") == ("Madrid", "Bcn")
