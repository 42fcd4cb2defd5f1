"""CSV import (upsert by email, all-or-nothing) and export of customers.

Columns: ``email`` (required), ``name``, ``pin``, ``active``, ``wifi_access``,
``valid_from``, ``valid_until``, ``plan``. A column that is present is applied (an
empty ``pin`` means "keep, or draw one for a new customer"; empty dates clear the
window; an empty ``plan``, or ``default``, gives the default plan); a column that
is absent leaves the field unchanged, so files written before plans still import. Every row is
checked before anything is written; one bad row and nothing is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
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


def read_rows(stream: TextIO, zone: tzinfo = UTC) -> tuple[list[MemberRow], list[RowError]]:
    """Parse every row (dates are whole days in ``zone``); collect errors, not just the first."""
    reader = csv.reader(stream)
    try:
        names = _header(next(reader, None))
    except csv.Error as exc:
        raise InvalidValue(f"line 1: not valid CSV ({exc})") from None
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, "", f"not valid CSV ({exc})"))
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise InvalidValue(f"the file has more than {MAX_ROWS} rows; split it")
        try:
            row = _parse_row(line, names, cells, zone)
        except InvalidValue as exc:
            label = cells[names.index("email")].strip() if len(cells) == len(names) else ""
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
        rows.append(row)
    return rows, errors


def import_customers(
    sessions: sessionmaker[Session],
    stream: TextIO,
    *,
    actor: str,
    dry_run: bool = False,
    zone: tzinfo = UTC,
) -> ImportReport:
    """Validate the whole file, then (unless dry run) write it in one transaction.

    Dates are whole days in ``zone`` (the ``timezone`` setting): see rules/validity.py.
    """
    rows, file_errors = read_rows(stream, zone)
    if not rows and not file_errors:
        # A header and nothing else: nothing to check, nothing to audit.
        return ImportReport(dry_run=dry_run)
    return upsert_members(
        sessions, rows, file_errors, actor=actor, action="customer.import", dry_run=dry_run
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
