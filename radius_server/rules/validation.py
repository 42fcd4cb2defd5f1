"""Rules for text an admin stores, and escaping for text printed to a terminal.

Pure: no I/O. Every stored text field has a length limit (the column's size,
so PostgreSQL never refuses a value SQLite would keep) and a character rule,
checked before the database sees the value.

Control characters are refused rather than cleaned: a NUL is refused by
PostgreSQL outright, and ESC, BEL, newlines or bidirectional overrides in a
name would reach an admin's terminal through ``customer list`` or ``history``.
Text that reaches a terminal from elsewhere (the wire, older rows) goes
through :func:`escape_controls` instead.
"""

from __future__ import annotations

import unicodedata

# Column sizes in store/models.py: a longer value is refused here, never truncated.
MAX_EMAIL = 254
MAX_NAME = 200
MAX_NAS_NAME = 100
MAX_ACTOR = 200
# Devices a member may have online at once, at most (0 = unlimited; setting device_limit).
MAX_DEVICE_LIMIT = 1000
# What an admin types to give a member the server's device limit again.
DEFAULT_WORD = "default"

# C0/C1 controls and DEL (Cc), lone surrogates (Cs, unencodable), and the line
# and paragraph separators (Zl, Zp), which terminals and editors break lines on.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Bidirectional embeddings, overrides, isolates and marks: they reorder what is
# displayed ("Trojan Source"). Other format characters (ZWJ, ZWNJ) are kept:
# names in Persian or Indic scripts and emoji need them.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# How much of a refused value an error message quotes.
_QUOTE_LIMIT = 60


class TextError(ValueError):
    """A value breaks a text rule. The message quotes the value escaped and shortened."""


def is_control(char: str) -> bool:
    """True for a character that must not be stored or printed raw."""
    return char in _BIDI or unicodedata.category(char) in _CONTROL_CATEGORIES


def has_control(text: str) -> bool:
    """True when ``text`` holds any control character (see :func:`is_control`)."""
    if text.isascii():
        # The common case, without a call per character: in ASCII the controls are
        # exactly the characters str.isprintable() refuses (0x00-0x1f, 0x7f).
        return not text.isprintable()
    return any(is_control(char) for char in text)


def _escape_char(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape_controls(text: str) -> str:
    """``text`` with each control character replaced by a visible escape (``\\x1b``).

    For anything printed to a terminal: ESC, BEL, newlines and bidi overrides
    from a RADIUS User-Name, a CSV cell or an old row cannot move the cursor,
    recolour the screen, ring the bell or fake an extra line.
    """
    if not has_control(text):
        return text
    return "".join(_escape_char(c) if is_control(c) else c for c in text)


def quote(value: str, limit: int = _QUOTE_LIMIT) -> str:
    """A value for an error message: escaped, shortened, in quotes."""
    shown = escape_controls(value[:limit])
    return f"'{shown}...'" if len(value) > limit else f"'{shown}'"


def check_text(value: str, what: str, max_length: int) -> str:
    """Return ``value`` in NFC form, or raise TextError (too long, control characters).

    NFC first, so the length is counted as PostgreSQL counts it and a name typed
    on two systems compares equal.
    """
    text = unicodedata.normalize("NFC", value)
    if len(text) > max_length:
        raise TextError(f"{what} is longer than {max_length} characters ({len(text)})")
    if has_control(text):
        raise TextError(f"{what} contains a control character: {quote(text)}")
    return text


def check_name(name: str) -> str:
    """A customer's full name: trimmed, NFC, at most MAX_NAME characters, no controls."""
    return check_text(name.strip(), "the name", MAX_NAME)


def check_nas_name(name: str) -> str:
    """A RADIUS client's name: trimmed, 1 to MAX_NAS_NAME printable characters."""
    value = name.strip()
    # isprintable() also refuses every non-ASCII space and format character:
    # client names are labels an admin types, so the strict rule costs nothing.
    if not value or len(value) > MAX_NAS_NAME or not value.isprintable():
        raise TextError(f"a client name must be 1-{MAX_NAS_NAME} printable characters")
    return value


# The words every yes/no field accepts: settings, command line options, CSV cells.
_YES = frozenset({"1", "true", "yes", "y", "on"})
_NO = frozenset({"0", "false", "no", "n", "off"})


def parse_yes_no(text: str) -> bool | None:
    """``True`` for yes/true/1/on/y, ``False`` for no/false/0/off/n (any case), else None.

    The one yes/no reading of the program; each caller turns None into its own
    kind of error (a setting, an argument, a CSV cell).
    """
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def check_device_limit(value: int) -> int:
    """A member's device limit: 0 (unlimited) to MAX_DEVICE_LIMIT, else ValueError."""
    if not 0 <= value <= MAX_DEVICE_LIMIT:
        raise ValueError(
            f"a device limit must be 0 (unlimited) to {MAX_DEVICE_LIMIT}, or {DEFAULT_WORD}"
        )
    return value


def parse_device_limit(text: str) -> int | None:
    """A device limit as typed: a number (see :func:`check_device_limit`), or "default" (None).

    ValueError, naming the text, for anything else.
    """
    value = text.strip().lower()
    if value == DEFAULT_WORD:
        return None
    if not value.isascii() or not value.isdigit():
        raise ValueError(
            f"{quote(text)} is not a device limit: give 0 (unlimited) to {MAX_DEVICE_LIMIT}, "
            f"or {DEFAULT_WORD}"
        )
    return check_device_limit(int(value))


def clean_label(text: str, max_length: int) -> str:
    """Text from the environment (an actor name) made storable: escaped and cut."""
    return escape_controls(text)[:max_length]
