"""Text rules for stored fields, escaping for terminals, and the console log (issue 10: 5, 6)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
import structlog

from radius_server.logging import configure_logging, get_logger
from radius_server.rules import validation

# What an attacker puts in a User-Name or a CSV cell to drive an admin's terminal:
# clear the screen, set the window title, ring the bell, fake a second log line,
# reverse the display (Trojan Source), a C1 CSI, DEL, NUL and a line separator.
HOSTILE = "ana\x1b[2J\x1b]0;owned\x07\nfake=line\u202eevil\x9b31m\x7f\x00\u2028"
RAW_CONTROLS = ["\x1b", "\x07", "\n", "\u202e", "\x9b", "\x7f", "\x00", "\u2028"]


def assert_no_raw_controls(text: str) -> None:
    """Not one of the hostile characters survives."""
    for char in RAW_CONTROLS:
        assert char not in text, repr(char)


def test_escape_controls_makes_every_control_visible() -> None:
    """Each control character becomes a visible escape; the rest is untouched."""
    shown = validation.escape_controls(HOSTILE)
    assert_no_raw_controls(shown)
    for escape in ("\\x1b", "\\x07", "\\x0a", "\\u202e", "\\x9b", "\\x7f", "\\x00", "\\u2028"):
        assert escape in shown
    assert shown.startswith("ana\\x1b[2J")


@pytest.mark.parametrize(
    "text",
    [
        "Zoë Ångström",
        "José Núñez",
        "Ana O'Neil-Smith",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "👩\u200d💻 Dev",
        "",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    """Accents, apostrophes, ZWNJ (Persian), ZWJ (emoji) are names, not controls."""
    assert validation.escape_controls(text) == text
    assert validation.check_name(text) == text


def test_name_rules() -> None:
    """At most 200 characters after NFC; no control characters; the message quotes it escaped."""
    assert validation.check_name("  " + "x" * 200 + " ") == "x" * 200
    # Decomposed é (e + combining accent) counts as one character, as stored.
    assert validation.check_name("e\u0301" * 200) == "\u00e9" * 200
    with pytest.raises(validation.TextError, match="longer than 200"):
        validation.check_name("x" * 201)
    for bad in ("Ana\x00", "Ana\x1b[31m", "Ana\nBob", "Ana\tB", "\u202eana"):
        with pytest.raises(validation.TextError, match="control character") as caught:
            validation.check_name(bad)
        assert_no_raw_controls(str(caught.value))


def test_quote_shortens_long_values() -> None:
    """An error never echoes a whole 100 KB cell."""
    shown = validation.quote("y" * 100_000)
    assert len(shown) < 80 and shown.endswith("...'")


def test_nas_name_rules() -> None:
    """1 to 100 printable characters."""
    assert validation.check_nas_name(" lobby ap ") == "lobby ap"
    for bad in ("", " ", "x" * 101, "ap\x1b", "a\np"):
        with pytest.raises(validation.TextError):
            validation.check_nas_name(bad)


@pytest.fixture
def reset_structlog() -> Iterator[None]:
    """Leave structlog as the other tests expect it."""
    yield
    structlog.reset_defaults()


class FakeTerminal(io.StringIO):
    """Output that says it is a terminal: the console renderer then prints in colour."""

    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("reset_structlog")
def test_console_log_escapes_values_from_the_wire() -> None:
    """A User-Name full of terminal controls is printed escaped, on one line.

    structlog's console renderer prints a string raw unless it holds a space, a
    quote, "=" or a line break; a User-Name crafted without those got through.
    """
    out = FakeTerminal()
    configure_logging("console", "info", stream=out)
    get_logger().info("access", user=HOSTILE, outcome="reject")
    get_logger().info("access", user="ana\x1b[2J\x1b]0;owned\x07\u202eevil\x9b31m\x00")
    # Colour codes are the renderer's own ESC sequences: take them out first.
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert text.count("\n") == 2
    for line in text.rstrip("\n").split("\n"):
        assert_no_raw_controls(line)
    assert "\\x1b[2J" in text and "reject" in text


@pytest.mark.usefixtures("reset_structlog")
def test_json_log_escapes_values_from_the_wire() -> None:
    """JSON lines need no help: json.dumps escapes controls (and non-ASCII) itself."""
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    get_logger().info("access", user=HOSTILE)
    text = out.getvalue()
    # DEL is the one control json.dumps leaves raw; terminals ignore it.
    for char in RAW_CONTROLS:
        if char != "\x7f":
            assert char not in text.rstrip("\n"), repr(char)
    assert json.loads(text)["user"] == HOSTILE


def test_generated_secrets_are_letters_and_digits() -> None:
    """A secret starting with "-" broke the demo's radtest line (radtest read it as an option)."""
    from radius_server.store.clients import generate_secret

    drawn = {generate_secret() for _ in range(2000)}
    assert len(drawn) == 2000
    assert all(len(s) == 33 and s.isascii() and s.isalnum() for s in drawn)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[("yes", True), (" TRUE ", True), ("1", True), ("on", True), ("y", True)],
        *[("No", False), ("false", False), ("0", False), ("off", False), ("n", False)],
        *[("perhaps", None), ("", None), ("required", None)],
    ],
)
def test_one_yes_no_reading_for_settings_arguments_and_csv(text: str, expected: object) -> None:
    """Settings, command line options and CSV cells read yes/no through this one parser."""
    assert validation.parse_yes_no(text) is expected
