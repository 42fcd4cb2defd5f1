"""CSV import (upsert by email, all-or-nothing) and export of customers.

Columns: ``email`` (required), ``name``, ``pin``, ``active``, ``wifi_access``,
``valid_from``, ``valid_until``, ``plan``. A column that is present is applied (an
empty ``pin`` means "keep, or draw one for a new customer"; empty dates clear the
window; an empty ``plan``, or ``default``, gives the default plan); a column that
is absent leaves the field unchanged, so files written before plans still import. Every row is
checked before anything is committed; one bad row and nothing is written. The file is
parsed as it is read, never held as a list of rows (see CsvRows).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.validation import MAX_EMAIL, parse_yes_no, quote
from radius_server.store.errors import InvalidValue
from radius_server.store.member_upsert import (
    ImportReport,
    MemberRow,
    RowError,
    RowKeys,
    member_row,
    upsert_members,
)
from radius_server.store.models import AccessPlan, Customer
from radius_server.store.records import as_utc, iso

COLUMNS = ("email", "name", "pin", "active", "wifi_access", "valid_from", "valid_until", "plan")
_ALIASES = {"full_name": "name", "e-mail": "email", "wifi": "wifi_access"}
MAX_ROWS = 200_000


def parse_bool(text: str) -> bool:
    """yes/no, true/false, 1/0, on/off."""
    answer = parse_yes_no(text)
    if answer is not None:
        return answer
    raise InvalidValue(f"{quote(text)} is not yes/no")


def parse_when(text: str) -> date | datetime | None:
    """ISO date or datetime, as written; empty means none.

    A date stays a date: validity.window_start/window_end make it a whole day
    in the space's time zone.
    """
    value = text.strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{quote(value)} is not an ISO date (YYYY-MM-DD)") from None


def _header(fieldnames: Iterable[str] | None) -> list[str]:
    if not fieldnames:
        raise InvalidValue("the CSV file is empty or has no header line")
    names = [_ALIASES.get(n.strip().lower(), n.strip().lower()) for n in fieldnames]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise InvalidValue(
            f"unknown column(s) {', '.join(unknown)}; expected some of {', '.join(COLUMNS)}"
        )
    if "email" not in names:
        raise InvalidValue("the CSV file needs an 'email' column")
    if len(set(names)) != len(names):
        raise InvalidValue("a column appears twice in the header")
    return names


def _parse_row(line: int, names: list[str], cells: list[str], zone: tzinfo) -> MemberRow:
    if len(cells) != len(names):
        raise InvalidValue(f"expected {len(names)} fields, found {len(cells)}")
    raw = dict(zip(names, cells, strict=True))
    # Cells to typed fields; member_upsert.member_row checks them as it does the API's JSON.
    fields: dict[str, Any] = {k: raw[k] for k in ("name", "pin", "plan") if k in raw}
    for flag in ("active", "wifi_access"):
        if flag in raw and raw[flag].strip():
            fields[flag] = parse_bool(raw[flag])
    for moment in ("valid_from", "valid_until"):
        if moment in raw:
            fields[moment] = parse_when(raw[moment])
    return member_row(line, raw["email"], fields, zone)


def _rewindable(stream: TextIO) -> TextIO:
    """The stream if it can seek back; else its bytes kept in memory (standard input).

    Raw bytes, not a StringIO (4 bytes a character once read): the file once, as compact
    as it comes.
    """
    if stream.seekable():
        return stream
    raw = getattr(stream, "buffer", None)
    data = raw.read() if raw is not None else stream.read().encode("utf-8")
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


class CsvRows:
    """The rows of a CSV file, parsed as they are read: never a list of every row.

    The header is checked at once (InvalidValue). The first pass over the rows
    checks each (collecting every bad one in ``errors``, not just the first) and
    counts them in ``rows``; later passes parse the file again and yield only the
    rows the first found good, so member_upsert can read it twice (keys, then
    batches to write) with memory bounded by a batch. Dates are whole days in
    ``zone``.
    """

    def __init__(self, stream: TextIO, zone: tzinfo = UTC) -> None:
        self._stream = _rewindable(stream)
        self._start = self._stream.tell()
        self._zone = zone
        try:
            self.names = _header(next(csv.reader(self._stream), None))
        except csv.Error as exc:
            raise InvalidValue(f"line 1: not valid CSV ({exc})") from None
        self.errors: list[RowError] = []
        self.rows = 0
        # Lines the first pass found bad; None until it has run to the end.
        self._bad: set[int] | None = None

    def __iter__(self) -> Iterator[MemberRow]:
        return self._check() if self._bad is None else self._again()

    def _cells(self) -> Iterator[tuple[int, list[str] | csv.Error]]:
        """(line, cells) of each non-blank data row; a CSV error ends the file."""
        self._stream.seek(self._start)
        reader = csv.reader(self._stream)
        next(reader, None)  # the header
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, exc
                return
            if any(c.strip() for c in cells):
                yield reader.line_num, cells

    def _check(self) -> Iterator[MemberRow]:
        errors: list[RowError] = []
        # Email -> its first line: the one per-row structure of the file kept whole.
        seen: dict[str, int] = {}
        rows = 0
        for line, cells in self._cells():
            if isinstance(cells, csv.Error):
                errors.append(RowError(line, "", f"not valid CSV ({cells})"))
                break
            if rows >= MAX_ROWS:
                raise InvalidValue(f"the file has more than {MAX_ROWS} rows; split it")
            rows += 1
            try:
                row = _parse_row(line, self.names, cells, self._zone)
            except InvalidValue as exc:
                label = (
                    cells[self.names.index("email")].strip()
                    if len(cells) == len(self.names)
                    else ""
                )
                # The cell as found (the CLI escapes it when printing), cut to an email's size.
                label = label[:MAX_EMAIL]
                errors.append(RowError(line, label, str(exc), getattr(exc, "field", None)))
                continue
            if row.email in seen:
                errors.append(
                    RowError(
                        line,
                        row.email,
                        f"duplicate email in the file (first on line {seen[row.email]})",
                    )
                )
                continue
            seen[row.email] = line
            yield row
        self.errors, self.rows = errors, rows
        self._bad = {e.line for e in errors}

    def _again(self) -> Iterator[MemberRow]:
        bad = self._bad or set()
        for line, cells in self._cells():
            if isinstance(cells, csv.Error):
                return
            if line not in bad:
                yield _parse_row(line, self.names, cells, self._zone)


def import_customers(
    sessions: sessionmaker[Session],
    stream: TextIO,
    *,
    actor: str,
    dry_run: bool = False,
    zone: tzinfo = UTC,
    itemized: bool = True,
) -> ImportReport:
    """Validate the whole file, then (unless dry run) write it in one transaction.

    The file is read as it goes, twice or more (see CsvRows); standard input is
    kept in memory as bytes to be read again. Dates are whole days in ``zone``
    (the ``timezone`` setting): see rules/validity.py. ``itemized`` False: the
    report counts members instead of listing them (ImportReport).
    """
    source = CsvRows(stream, zone)
    keys = RowKeys.of(source)
    if not source.rows and not source.errors:
        # A header and nothing else: nothing to check, nothing to audit.
        return ImportReport(dry_run=dry_run, itemized=itemized)
    return upsert_members(
        sessions,
        source,
        source.errors,
        actor=actor,
        action="customer.import",
        dry_run=dry_run,
        keys=keys,
        itemized=itemized,
    )


def export_customers(
    sessions: sessionmaker[Session], stream: TextIO, *, include_pin: bool = True
) -> int:
    """Write all customers as CSV (the import format); return the row count."""
    columns = [c for c in COLUMNS if include_pin or c != "pin"]
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    with sessions() as session:
        plan_names = dict(session.execute(select(AccessPlan.id, AccessPlan.name)).all())
        for row in session.scalars(select(Customer).order_by(Customer.email)):
            values = {
                "email": row.email,
                "name": row.full_name,
                "pin": row.pin,
                "active": "yes" if row.active else "no",
                "wifi_access": "yes" if row.wifi_access else "no",
                "valid_from": iso(as_utc(row.valid_from)) or "",
                "valid_until": iso(as_utc(row.valid_until)) or "",
                # Empty: the default plan (whichever it is when the file is imported).
                "plan": plan_names.get(row.plan_id, "") if row.plan_id is not None else "",
            }
            writer.writerow([values[c] for c in columns])
            count += 1
    return count


def export_text(sessions: sessionmaker[Session], *, include_pin: bool = True) -> str:
    """Export to a string (for tests and small spaces)."""
    buffer = io.StringIO()
    export_customers(sessions, buffer, include_pin=include_pin)
    return buffer.getvalue()
