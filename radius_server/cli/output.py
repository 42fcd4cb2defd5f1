"""Output helpers for the command line: aligned tables for people, JSON for scripts.

Text from outside the program (a RADIUS User-Name in ``lockout list``, a CSV
cell in an import error, a row stored before control characters were refused)
is printed through :func:`terminal_text`, never raw. JSON is safe as it is:
``json.dumps`` escapes control characters and, by default, all non-ASCII.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from radius_server.rules.validation import escape_controls


class CommandError(Exception):
    """An expected failure a command reports: one line for people, and its exit status.

    ``main`` prints it (as ``error: ...`` or, under ``--json``, as a JSON object).
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def utc_seconds(seconds: float) -> str:
    """Seconds since the epoch as an ISO 8601 UTC time to the second (lock and device times)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def print_error(message: str, code: int, *, as_json: bool) -> int:
    """Report a failure and return ``code``.

    Under ``--json`` the error is a JSON object on stdout, where a script already
    reads the result (stdout then holds exactly one JSON document either way);
    otherwise one ``error:`` line on stderr. The message may quote outside text
    (a CSV cell, a name): the line gets its control characters escaped, while
    JSON needs nothing (``json.dumps`` escapes them itself).
    """
    if as_json:
        print_json({"error": message, "exit_code": code})
    else:
        print(f"error: {terminal_text(message)}", file=sys.stderr)
    return code


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """Print ``data`` as indented JSON."""
    print(json.dumps(data, indent=2, sort_keys=False, default=str), file=stream or sys.stdout)


def terminal_text(value: Any) -> str:
    """``value`` as text fit for a terminal: control characters become visible escapes."""
    return escape_controls(str(value))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return terminal_text(value)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    stream: TextIO | None = None,
) -> None:
    """Print rows as an aligned table; ``columns`` are (key, heading) pairs."""
    out = stream or sys.stdout
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    headings = [heading for _, heading in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headings)]
    print("  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip(), file=out)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def print_fields(data: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Print one record as ``key: value`` lines."""
    out = stream or sys.stdout
    width = max(len(k) for k in data) if data else 0
    for key, value in data.items():
        print(f"{key.ljust(width)}  {_cell(value)}", file=out)


def warn(message: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {terminal_text(message)}", file=sys.stderr)


def first_line(error: BaseException) -> str:
    """An exception's message fit for one line (a driver's may run over several)."""
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def mask_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


_BYTE_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(count: int) -> str:
    """Octets for people, in SI units (1.2 MB = 1,200,000 octets); JSON keeps them exact."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in _BYTE_UNITS:
        value /= 1000
        if value < 999.95 or unit == _BYTE_UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: int) -> str:
    """A duration for people: 45s, 12m 03s, 3h 07m, 2d 04h."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
