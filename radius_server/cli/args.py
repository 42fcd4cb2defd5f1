"""Argument types shared by sub-commands; they raise argparse errors with clear text."""

from __future__ import annotations

import argparse
from datetime import datetime

from radius_server.store.csv_io import parse_when
from radius_server.store.errors import InvalidValue


def when(text: str) -> datetime | None:
    """An ISO date or datetime argument."""
    try:
        return parse_when(text)
    except InvalidValue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def yes_no(text: str) -> bool:
    """A yes/no argument."""
    value = text.strip().lower()
    if value in ("yes", "true", "1", "on", "required"):
        return True
    if value in ("no", "false", "0", "off", "optional"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not yes/no")
