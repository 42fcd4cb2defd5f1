"""Argument types shared by sub-commands; they raise argparse errors with clear text."""

from __future__ import annotations

import argparse
from datetime import date, datetime

from radius_server.rules.validation import parse_yes_no
from radius_server.store.csv_io import parse_when
from radius_server.store.errors import InvalidValue

# A port number someone types: a destination must be 1-65535; a port to listen
# on may also be 0, "any free port" (tests and `serve --workers` use it).
MAX_PORT = 65535


def when(text: str) -> date | datetime:
    """An ISO date or datetime argument; empty is refused (the --clear-* options remove one)."""
    try:
        value = parse_when(text)
    except InvalidValue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None:
        raise argparse.ArgumentTypeError(
            "empty date: give YYYY-MM-DD, or use --clear-valid-from/--clear-valid-until"
        )
    return value


# Words that read naturally for --require-message-authenticator.
_POLICY_WORDS = {"required": True, "optional": False}


def yes_no(text: str) -> bool:
    """A yes/no argument (validation.parse_yes_no, plus required/optional)."""
    answer = _POLICY_WORDS.get(text.strip().lower(), parse_yes_no(text))
    if answer is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not yes/no")
    return answer


def parse_port(text: str, *, allow_zero: bool = False) -> int:
    """A port number 1-65535 (0 too when ``allow_zero``); ValueError names the bad text."""
    lowest = 0 if allow_zero else 1
    try:
        number = int(text.strip())
    except ValueError:
        number = -1
    if not lowest <= number <= MAX_PORT:
        raise ValueError(f"{text!r} is not a port number ({lowest}-{MAX_PORT})")
    return number


def port(text: str) -> int:
    """A destination port argument: 1-65535."""
    try:
        return parse_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def listen_port(text: str) -> int:
    """A port to listen on: 1-65535, or 0 for any free port."""
    try:
        return parse_port(text, allow_zero=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def host_port(text: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]`` or ``[IPv6]:PORT``; the port None when not given."""
    value = text.strip()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"{text!r} is not HOST, HOST:PORT or [IPv6]:PORT")
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        host, port_text = value, None  # a name, an IPv4 address or a bare IPv6 address
    if not host:
        raise argparse.ArgumentTypeError(f"{text!r} has no host")
    return host, None if port_text is None else port(port_text)
