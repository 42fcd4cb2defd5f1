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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.rules.plan_text import name_key
from radius_server.rules.validation import (
    DEFAULT_WORD,
    MAX_EMAIL,
    check_name,
    parse_yes_no,
    quote,
)
from radius_server.rules.validity import window_end, window_start
from radius_server.store import disconnects, plan_members
from radius_server.store.customers import check_window, normalize_email
from radius_server.store.errors import InvalidValue, StoreError, checked
from radius_server.store.journal import CUSTOMER, audit, record_change, utcnow
from radius_server.store.models import AccessPlan, Customer
from radius_server.store.records import as_utc, iso

COLUMNS = ("email", "name", "pin", "active", "wifi_access", "valid_from", "valid_until", "plan")
_ALIASES = {"full_name": "name", "e-mail": "email", "wifi": "wifi_access"}
MAX_ROWS = 200_000
# A concurrent admin can take an email or a PIN between the check and the write;
# the import then checks again against what is there now, this many times.
_WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row: its line number in the file (header is line 1) and why."""

    line: int
    email: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    """What an import did, or would do (dry run), or why it did nothing."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    warnings: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read (blank lines not counted)

    @property
    def ok(self) -> bool:
        """True when no row was bad."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "ok": self.ok,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "written": self.written,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "errors": [{"line": e.line, "email": e.email, "reason": e.reason} for e in self.errors],
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class _Row:
    line: int
    email: str
    values: dict[str, Any]


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


def _parse_row(line: int, names: list[str], cells: list[str], zone: tzinfo) -> _Row:
    if len(cells) != len(names):
        raise InvalidValue(f"expected {len(names)} fields, found {len(cells)}")
    raw = dict(zip(names, cells, strict=True))
    email = normalize_email(raw["email"])
    values: dict[str, Any] = {}
    if "name" in raw:
        values["full_name"] = checked(check_name, raw["name"])
    if "pin" in raw and raw["pin"].strip():
        pin = raw["pin"].strip()
        if not pins.is_valid_format(pin):
            raise InvalidValue("PIN is not exactly 5 digits")
        values["pin"] = pin
    for flag in ("active", "wifi_access"):
        if flag in raw and raw[flag].strip():
            values[flag] = parse_bool(raw[flag])
    for moment, instant in (("valid_from", window_start), ("valid_until", window_end)):
        if moment in raw:
            when = parse_when(raw[moment])
            values[moment] = instant(when, zone) if when is not None else None
    if "plan" in raw:
        # A name for now: _plan turns it into plan_id against the database.
        name = raw["plan"].strip()
        values["plan"] = None if name.lower() in ("", DEFAULT_WORD) else name
    return _Row(line, email, values)


def read_rows(stream: TextIO, zone: tzinfo = UTC) -> tuple[list[_Row], list[RowError]]:
    """Parse every row (dates are whole days in ``zone``); collect errors, not just the first."""
    reader = csv.reader(stream)
    try:
        names = _header(next(reader, None))
    except csv.Error as exc:
        raise InvalidValue(f"line 1: not valid CSV ({exc})") from None
    rows: list[_Row] = []
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
            errors.append(RowError(line, label, str(exc)))
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


def _with_plan_id(row: _Row, plan_ids: dict[str, int]) -> tuple[_Row, str | None]:
    """The row with its plan name (if any) as ``plan_id``; or why the name is unknown."""
    if "plan" not in row.values:
        return row, None
    values = dict(row.values)
    name = values.pop("plan")
    values["plan_id"] = None if name is None else plan_ids.get(name_key(name))
    if name is not None and values["plan_id"] is None:
        return row, f"unknown plan {quote(name)} (see 'plan list')"
    return _Row(row.line, row.email, values), None


def _plan(
    session: Session, rows: list[_Row], report: ImportReport
) -> tuple[list[_Row], list[tuple[Customer, dict[str, Any]]]]:
    """Check rows against the database; fill report errors; return creates and updates."""
    existing = {c.email: c for c in session.scalars(select(Customer))}
    holder = {c.pin: c.email for c in existing.values()}
    plan_ids = {
        name_key(name): id_ for id_, name in session.execute(select(AccessPlan.id, AccessPlan.name))
    }
    file_pins: dict[str, int] = {}
    creates: list[_Row] = []
    updates: list[tuple[Customer, dict[str, Any]]] = []
    for parsed in rows:
        row, problem = _with_plan_id(parsed, plan_ids)
        pin = row.values.get("pin")
        current = existing.get(row.email)
        if pin is not None:
            owner = holder.get(pin)
            if owner is not None and owner != row.email:
                problem = f"PIN taken by {owner}"
            elif pin in file_pins:
                problem = f"PIN also given on line {file_pins[pin]}"
            else:
                file_pins[pin] = row.line
        start = row.values.get("valid_from", current.valid_from if current else None)
        end = row.values.get("valid_until", current.valid_until if current else None)
        try:
            check_window(start, end)
        except InvalidValue as exc:
            problem = problem or str(exc)
        if problem:
            report.errors.append(RowError(row.line, row.email, problem))
        elif current is None:
            creates.append(row)
        else:
            diff = {
                k: v
                for k, v in row.values.items()
                if (as_utc(getattr(current, k)) if k.startswith("valid") else getattr(current, k))
                != v
            }
            (updates.append((current, diff)) if diff else report.unchanged.append(row.email))
    return creates, updates


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
    for _ in range(_WRITE_ATTEMPTS):
        report = ImportReport(dry_run=dry_run, errors=list(file_errors))
        report.rows = len(rows) + len(file_errors)
        with sessions() as session:
            creates, updates = _plan(session, rows, report)
            report.errors.sort(key=lambda e: e.line)
            report.created = [r.email for r in creates]
            report.updated = [c.email for c, _ in updates]
            if not report.ok or dry_run:
                return report
            try:
                taken = _write(session, creates, updates, actor)
            except IntegrityError:
                # Another admin took one of these emails or PINs after _plan read
                # them. One transaction: none of the file is written. Check again
                # against what is there now, which names the line and the conflict.
                session.rollback()
                continue
        report.written = True
        state = pins.fullness(taken)
        report.warnings = [state.message()] if state.should_warn else []
        return report
    raise StoreError(
        "other admins kept changing the same customers during the import; "
        "nothing was written: import again"
    )


def _write(
    session: Session,
    creates: list[_Row],
    updates: list[tuple[Customer, dict[str, Any]]],
    actor: str,
) -> set[str]:
    """Apply a checked plan and commit; return the PINs in use afterwards."""
    taken = set(session.scalars(select(Customer.pin)))
    # PINs the file gives, to new and to existing customers: a PIN drawn for a
    # row without one must avoid them too, or the write hits the unique index.
    taken.update(r.values["pin"] for r in creates if "pin" in r.values)
    taken.update(diff["pin"] for _, diff in updates if "pin" in diff)
    now = utcnow()
    default_plan = plan_members.default_plan_id(session)
    plan_jobs = 0
    for current, diff in updates:
        before = disconnects.AccessState.of(current)
        plan_before = current.plan_id
        if "pin" in diff:
            current.previous_pin = current.pin
        for key, value in diff.items():
            setattr(current, key, value)
        current.updated_at = now
        if "pin" in diff:
            current.pin_changed_at = now
        # As for the same change made one customer at a time (store/customers.py).
        lost = disconnects.lost_access(before, disconnects.AccessState.of(current), now)
        if lost is None and "pin" in diff:
            lost = disconnects.PIN_CHANGED
        if lost is not None:
            disconnects.enqueue(session, current.email, lost, actor, now=now)
        elif "plan_id" in diff:
            plan_jobs += plan_members.reassigned(
                session, current.email, plan_before, current.plan_id, actor, default_plan
            )
    created: list[Customer] = []
    for row in creates:
        pin = row.values.get("pin") or pins.draw_pin(taken)
        taken.add(pin)
        fields_ = {"full_name": "", "active": True, "wifi_access": True, **row.values}
        fields_["pin"] = pin
        created.append(
            Customer(email=row.email, created_at=now, updated_at=now, pin_changed_at=now, **fields_)
        )
    session.add_all(created)
    session.flush()
    for customer in [c for c, _ in updates] + created:
        record_change(session, CUSTOMER, customer.id)
    jobs = {"plan_changed_jobs": plan_jobs} if plan_jobs else {}
    audit(session, actor, "customer.import", "", created=len(creates), updated=len(updates), **jobs)
    session.commit()
    return taken


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
