"""print_error: one escaped line for people, a JSON object (escaped by json) for scripts."""

from __future__ import annotations

import json

import pytest

from radius_server.cli.output import print_error

HOSTILE = "bad cell \x1b]0;owned\x07\x1b[2J\nroot# "


def test_plain_error_escapes_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """Outside text quoted in an error cannot drive the terminal, nor add a line."""
    assert print_error(HOSTILE, 1, as_json=False) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: bad cell \\x1b]0;owned\\x07")
    assert captured.err.count("\n") == 1
    assert not any(char in captured.err for char in ("\x1b", "\x07"))


def test_json_error_keeps_the_text_and_escapes_it_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Under --json the message round-trips exactly; the raw bytes never reach stdout."""
    assert print_error(HOSTILE, 2, as_json=True) == 2
    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out) == {"error": HOSTILE, "exit_code": 2}
    assert not any(char in captured.out for char in ("\x1b", "\x07"))
