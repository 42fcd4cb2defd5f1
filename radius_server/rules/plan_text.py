"""What an admin types for plans and locations: names, numbers, reply attributes.

Pure: no I/O. The store checks these before the database sees a value, and
``rules.plans.compile_plan`` then checks the plan as a whole (attribute names and
types against the dictionaries, the hours). Every refusal is a :class:`TextError`
naming the field, so the command line prints one line.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from radius_server.rules.hours import parse_hours
from radius_server.rules.plans import (
    MAX_DEVICE_LIMIT,
    MAX_IDLE_TIMEOUT,
    MAX_KBPS,
    MAX_SESSION_TIMEOUT,
    MIN_TIMEOUT,
)
from radius_server.rules.validation import TextError, check_text, quote

# Column sizes in store/models.py (plans.name, locations.name, plans.hours).
MAX_PLAN_NAME: Final = 64
MAX_LOCATION_NAME: Final = 100
MAX_HOURS: Final = 500
# Extra reply attributes per plan, and the size of one: a RADIUS attribute
# carries at most 253 octets of value (RFC 2865 5), a dictionary name is short.
MAX_REPLY_ATTRIBUTES: Final = 32
MAX_ATTRIBUTE_NAME: Final = 64
MAX_ATTRIBUTE_VALUE: Final = 253

# The optional numbers of a plan, with the range each may take: the bounds
# rules/plans.py compiles with (a plan saved is a plan every server loads). VLAN ids
# 1-4094 (IEEE 802.1Q: 0 and 4095 are reserved).
NUMBER_FIELDS: Final[dict[str, tuple[int, int]]] = {
    "vlan": (1, 4094),
    "down_kbps": (1, MAX_KBPS),
    "up_kbps": (1, MAX_KBPS),
    "session_timeout": (MIN_TIMEOUT, MAX_SESSION_TIMEOUT),
    "idle_timeout": (MIN_TIMEOUT, MAX_IDLE_TIMEOUT),
    "interim_interval": (MIN_TIMEOUT, MAX_IDLE_TIMEOUT),
    "device_limit": (0, MAX_DEVICE_LIMIT),
}
# Every optional field of a plan: the numbers and the access hours. None clears one.
OPTIONAL_FIELDS: Final = (*NUMBER_FIELDS, "hours")
# What an admin types to clear an optional field on update (``--vlan none``).
NONE_WORDS: Final = frozenset({"none", "off", "-"})


def _label(field: str) -> str:
    return field.replace("_", "-")


def check_label(value: str, what: str, max_length: int) -> str:
    """A plan or location name: trimmed, 1 to ``max_length`` printable characters, no comma.

    No comma: ``--locations A,B`` lists names separated by commas. NFC, so a name
    typed on two systems is one name.
    """
    text = unicodedata.normalize("NFC", value.strip())
    if not text or len(text) > max_length or not text.isprintable() or "," in text:
        raise TextError(
            f"{what} must be 1-{max_length} printable characters without a comma: {quote(text)}"
        )
    return text


def name_key(name: str) -> str:
    """What makes two plan (or location) names the same: case and Unicode form ignored.

    Compared in Python, not with SQL ``lower()``, which SQLite applies to ASCII only.
    """
    return unicodedata.normalize("NFC", name.strip()).casefold()


def check_plan_name(value: str) -> str:
    """A plan's name (see :func:`check_label`)."""
    return check_label(value, "a plan name", MAX_PLAN_NAME)


def check_location_name(value: str) -> str:
    """A location's name (see :func:`check_label`)."""
    return check_label(value, "a location name", MAX_LOCATION_NAME)


def check_number(field: str, value: int) -> int:
    """One of a plan's numbers within its range (NUMBER_FIELDS), else TextError naming it."""
    low, high = NUMBER_FIELDS[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TextError(f"{_label(field)} must be a whole number {low}-{high}: {value!r}")
    return value


def parse_number(field: str, text: str) -> int | None:
    """A plan number as typed: digits within range, or none/off/- (None: clear it)."""
    value = text.strip().lower()
    if value in NONE_WORDS:
        return None
    if not value.isascii() or not value.isdigit():
        low, high = NUMBER_FIELDS[field]
        raise TextError(f"{_label(field)} must be a whole number {low}-{high}, or none")
    return check_number(field, int(value))


def check_hours(value: str) -> str:
    """Access hours in their canonical text (rules/hours.py), which is what the store keeps.

    Equal sets of windows are stored alike (``mon-fri 8:00-19:00`` as
    ``Mon-Fri 08:00-19:00``); TextError names what cannot be read.
    """
    text = check_text(value.strip(), "hours", MAX_HOURS)
    try:
        canonical = str(parse_hours(text))
    except ValueError as exc:
        message = str(exc)
        raise TextError(message if message.startswith("hours") else f"hours: {message}") from None
    if len(canonical) > MAX_HOURS:
        raise TextError(f"hours are longer than {MAX_HOURS} characters once written out")
    return canonical


def parse_reply_attribute(text: str) -> tuple[str, str]:
    """``Name = value`` (or ``Name:tag = value``) as typed, as a (name, value) pair.

    Double or single quotes around the value are taken off (FreeRADIUS writes
    ``Filter-Id = "members"``); whether the name and value are valid is the
    dictionary's call at save time.
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise TextError(f"a reply attribute is written Name = value: {quote(text)}")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return check_reply_attribute(name, value)


def check_reply_attribute(name: str, value: str) -> tuple[str, str]:
    """A (name, value) pair within size, without control characters or spaces in the name."""
    name = check_text(name.strip(), "a reply attribute name", MAX_ATTRIBUTE_NAME)
    if not name or any(c.isspace() for c in name) or "=" in name:
        raise TextError(f"not a reply attribute name: {quote(name)}")
    value = check_text(value, f"the value of {name}", MAX_ATTRIBUTE_VALUE)
    return name, value


def check_reply_attributes(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A plan's extra reply attributes: each checked, at most MAX_REPLY_ATTRIBUTES."""
    if len(pairs) > MAX_REPLY_ATTRIBUTES:
        raise TextError(f"a plan has at most {MAX_REPLY_ATTRIBUTES} reply attributes")
    return tuple(check_reply_attribute(name, value) for name, value in pairs)


def format_reply_attribute(name: str, value: str) -> str:
    """A pair as an admin writes it: ``Filter-Id = "members"`` (parses back to the same)."""
    return f'{name} = "{value}"'


def split_names(text: str) -> tuple[str, ...]:
    """``A,B`` as names in order, duplicates and blanks dropped (``--locations``)."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        name = part.strip()
        if name:
            seen.setdefault(name, None)
    return tuple(seen)
