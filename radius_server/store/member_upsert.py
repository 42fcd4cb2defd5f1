"""Upsert many members in one transaction: the engine of CSV import, API sync and PUT.

A caller hands over member states (``MemberRow``: an email and the fields it
gives). Every row is checked against the database first (emails loaded in bulk,
every PIN's holder once); one bad row and nothing is written. Then one
transaction applies the creates, updates and (when asked) disables, with a
change-feed row per member (running servers follow the feed, see
docs/architecture.md) and disconnect jobs where access is taken away, as the
one-member operations of store/customers.py do.

Field semantics, shared by the CSV columns and the API's JSON: a field that is
absent leaves the member's value as it is (a new member gets the default); an
absent or empty PIN keeps the PIN (draws one for a new member); a null date
clears that end of the window; a null or ``default`` plan gives the default plan.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.rules.plan_text import name_key
from radius_server.rules.validation import DEFAULT_WORD, check_device_limit, check_name, quote
from radius_server.rules.validity import window_end, window_start
from radius_server.store import disconnects, plan_members
from radius_server.store.customers import check_window, normalize_email
from radius_server.store.errors import InvalidValue, StoreError, checked
from radius_server.store.journal import CUSTOMER, audit, record_changes, utcnow
from radius_server.store.models import AccessPlan, AccountingSession, Customer
from radius_server.store.records import as_utc

# A concurrent admin can take an email or a PIN between the check and the write;
# the upsert then checks again against what is there now, this many times.
_WRITE_ATTEMPTS = 3
# Emails per "IN (...)" query: well under every driver's parameter limit.
_CHUNK = 1000
# A new member's fields where its row gives none (executemany needs every key in every row).
_NEW: dict[str, Any] = {
    "full_name": "",
    "active": True,
    "wifi_access": True,
    "valid_from": None,
    "valid_until": None,
    "plan_id": None,
    "device_limit": None,
    "previous_pin": None,
}
# Model attribute -> the field name callers use (CSV column, JSON key).
PUBLIC_NAMES = {"full_name": "name", "plan_id": "plan"}
FIELDS = ("name", "pin", "active", "wifi_access", "valid_from", "valid_until", "plan")


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row: where it came from (CSV line, or position in a feed), why, and the field.

    ``conflict``: the row is valid but clashes with another member (its PIN is taken).
    """

    line: int
    email: str
    reason: str
    field: str | None = None
    conflict: bool = False


@dataclass(slots=True)
class ImportReport:
    """What an upsert did, or would do (dry run), or why it did nothing."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    warnings: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read (blank lines not counted)
    # Updated member -> the fields that changed (public names, sorted).
    changes: dict[str, list[str]] = field(default_factory=dict)
    # Members disabled because the feed left them out (disable_missing).
    disabled: list[str] = field(default_factory=list)
    # New or changed PINs, after a write, for a caller allowed to hand them back.
    pins: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no row was bad."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the CLI's ``customer import --json``)."""
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
class MemberRow:
    """One member's wanted state: model attributes to values (``plan``: a name, None: default)."""

    line: int
    email: str
    values: dict[str, Any]


class FieldError(InvalidValue):
    """A bad value, naming the field it is in."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def member_row(line: int, email: str, fields: Mapping[str, Any], zone: tzinfo) -> MemberRow:
    """Check one member's fields (see the module docstring) and make its row.

    ``fields`` uses the public names (``FIELDS`` and ``device_limit``); dates are
    ``date`` (a whole day in ``zone``) or ``datetime``. Raises InvalidValue
    (a ``FieldError`` naming the field) with a message that holds no PIN.
    """
    try:
        address = normalize_email(email)
    except InvalidValue as exc:
        raise FieldError(str(exc), "email") from None
    values: dict[str, Any] = {}
    if fields.get("name") is not None:
        try:
            values["full_name"] = checked(check_name, fields["name"])
        except InvalidValue as exc:
            raise FieldError(str(exc), "name") from None
    pin = (fields.get("pin") or "").strip()
    if pin:
        if not pins.is_valid_format(pin):
            raise FieldError("PIN is not exactly 5 digits", "pin")
        values["pin"] = pin
    for flag in ("active", "wifi_access"):
        if fields.get(flag) is not None:
            values[flag] = bool(fields[flag])
    for moment, instant in (("valid_from", window_start), ("valid_until", window_end)):
        if moment in fields:
            when: date | datetime | None = fields[moment]
            values[moment] = instant(when, zone) if when is not None else None
    if "plan" in fields:
        name = (fields["plan"] or "").strip()
        values["plan"] = None if name.lower() in ("", DEFAULT_WORD) else name
    if "device_limit" in fields:
        limit = fields["device_limit"]
        if limit is not None:
            try:
                check_device_limit(limit)
            except ValueError as exc:
                raise FieldError(str(exc), "device_limit") from None
        values["device_limit"] = limit
    return MemberRow(line, address, values)


@dataclass(slots=True)
class _Plan:
    """What a checked upsert will write."""

    creates: list[MemberRow] = field(default_factory=list)
    updates: list[tuple[Customer, dict[str, Any]]] = field(default_factory=list)
    # (id, email) of members to disable: no ORM rows, one UPDATE per chunk.
    disables: list[tuple[int, str]] = field(default_factory=list)
    holders: dict[str, str] = field(default_factory=dict)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _load(session: Session, emails: Sequence[str]) -> dict[str, Customer]:
    """The members with these emails, in a few queries (not one per member)."""
    found: dict[str, Customer] = {}
    for chunk in _chunks(emails):
        found.update(
            (c.email, c) for c in session.scalars(select(Customer).where(Customer.email.in_(chunk)))
        )
    return found


def _holders(session: Session, given: Collection[str]) -> dict[str, str]:
    """Who holds each of the PINs the rows give (PIN -> email), in a few queries.

    Only those: reading every PIN (up to 100,000 rows) cost a one-member push about
    280 ms. All of them are read in _write only when a PIN must be drawn.
    """
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(given)):
        query = select(Customer.pin, Customer.email).where(Customer.pin.in_(chunk))
        found.update((pin, email) for pin, email in session.execute(query))
    return found


def _missing(session: Session, wanted: Collection[str]) -> list[tuple[int, str]]:
    """(id, email) of the active members the feed leaves out, by email."""
    query = select(Customer.id, Customer.email).where(Customer.active.is_(True))
    return sorted(
        ((id_, email) for id_, email in session.execute(query) if email not in wanted),
        key=lambda pair: pair[1],
    )


def _with_plan_id(row: MemberRow, plan_ids: dict[str, int]) -> tuple[MemberRow, str | None]:
    """The row with its plan name (if any) as ``plan_id``; or why the name is unknown."""
    if "plan" not in row.values:
        return row, None
    values = dict(row.values)
    name = values.pop("plan")
    values["plan_id"] = None if name is None else plan_ids.get(name_key(name))
    if name is not None and values["plan_id"] is None:
        return row, f"unknown plan {quote(name)} (see 'plan list')"
    return MemberRow(row.line, row.email, values), None


def _differs(current: Customer, key: str, value: Any) -> bool:
    old = getattr(current, key)
    return (as_utc(old) if key.startswith("valid") else old) != value


def _check(
    session: Session,
    rows: list[MemberRow],
    report: ImportReport,
    disable_missing: bool,
    unit: str,
) -> _Plan:
    """Check rows against the database; fill report errors and lists; return the plan."""
    existing = _load(session, [r.email for r in rows])
    plan = _Plan(holders=_holders(session, {r.values["pin"] for r in rows if r.values.get("pin")}))
    plan_ids = {
        name_key(name): id_ for id_, name in session.execute(select(AccessPlan.id, AccessPlan.name))
    }
    given_pins: dict[str, int] = {}
    for parsed in rows:
        row, problem = _with_plan_id(parsed, plan_ids)
        where, conflict = ("plan" if problem else None), False
        pin = row.values.get("pin")
        current = existing.get(row.email)
        if pin is not None:
            owner = plan.holders.get(pin)
            if owner is not None and owner != row.email:
                # The holder, never the PIN: as the one-member operations say it.
                problem, where, conflict = f"PIN taken by {owner}", "pin", True
            elif pin in given_pins:
                problem, where = f"PIN also given on {unit} {given_pins[pin]}", "pin"
            else:
                given_pins[pin] = row.line
        start = row.values.get("valid_from", current.valid_from if current else None)
        end = row.values.get("valid_until", current.valid_until if current else None)
        try:
            check_window(start, end)
        except InvalidValue as exc:
            if not problem:
                problem, where = str(exc), "valid_until"
        if problem:
            report.errors.append(RowError(row.line, row.email, problem, where, conflict))
        elif current is None:
            plan.creates.append(row)
            report.created.append(row.email)
        else:
            diff = {k: v for k, v in row.values.items() if _differs(current, k, v)}
            if diff:
                plan.updates.append((current, diff))
                report.updated.append(row.email)
                report.changes[row.email] = sorted(PUBLIC_NAMES.get(k, k) for k in diff)
            else:
                report.unchanged.append(row.email)
    if disable_missing and report.ok:
        plan.disables = _missing(session, {r.email for r in rows})
        report.disabled = [email for _, email in plan.disables]
    report.errors.sort(key=lambda e: e.line)
    return plan


def upsert_members(
    sessions: sessionmaker[Session],
    rows: list[MemberRow],
    errors: Sequence[RowError] = (),
    *,
    actor: str,
    action: str,
    dry_run: bool = False,
    disable_missing: bool = False,
    single: bool = False,
    unit: str = "line",
) -> ImportReport:
    """Check every row, then (unless dry run or any error) write them in one transaction.

    ``errors``: rows the caller already found bad (nothing is written then either).
    ``action``: the audit action. A bulk upsert writes one audit row with the counts;
    ``single`` (one member, the API's PUT) writes the member's own row instead. Nothing
    to change writes nothing, not even an audit row, so a retried push is harmless.
    ``disable_missing``: active members not among ``rows`` are disabled. ``unit``: what
    a row's ``line`` is, in messages ("line" of a file, "index" in a feed).
    """
    for _ in range(_WRITE_ATTEMPTS):
        report = ImportReport(dry_run=dry_run, errors=list(errors), rows=len(rows) + len(errors))
        with sessions() as session:
            plan = _check(session, rows, report, disable_missing, unit)
            if not report.ok or dry_run:
                return report
            if not (plan.creates or plan.updates or plan.disables):
                return report
            try:
                taken = _write(session, plan, report, actor, action, single)
            except IntegrityError:
                # Another admin took one of these emails or PINs after _check read
                # them. One transaction: nothing is written. Check again against
                # what is there now, which names the row and the conflict.
                session.rollback()
                continue
        report.written = True
        # Fullness is known (and matters) only where PINs were drawn.
        state = pins.fullness(taken) if taken is not None else None
        report.warnings = [state.message()] if state and state.should_warn else []
        return report
    raise StoreError(
        "other admins kept changing the same customers meanwhile; nothing was written: try again"
    )


def _insert(
    session: Session, creates: list[MemberRow], taken: set[str], report: ImportReport, now: datetime
) -> list[int]:
    """Insert new members in executemany batches (not one ORM object each); return their ids."""
    rows: list[dict[str, Any]] = []
    for row in creates:
        pin = row.values.get("pin") or pins.draw_pin(taken)
        taken.add(pin)
        report.pins[row.email] = pin
        rows.append({**_NEW, **row.values, "email": row.email, "pin": pin})
    for batch in _chunks(rows):
        session.execute(
            insert(Customer),
            [{**r, "created_at": now, "updated_at": now, "pin_changed_at": now} for r in batch],
        )
    ids: list[int] = []
    for chunk in _chunks([r.email for r in creates]):
        ids.extend(session.scalars(select(Customer.id).where(Customer.email.in_(chunk))))
    return ids


def _online(session: Session) -> set[str]:
    """Members with a session open: one query, for every plan change of the upsert."""
    query = select(AccountingSession.member_email).where(AccountingSession.stopped_at.is_(None))
    return {email for email in session.scalars(query.distinct()) if email}


def _write(
    session: Session, plan: _Plan, report: ImportReport, actor: str, action: str, single: bool
) -> set[str] | None:
    """Apply a checked plan and commit; return the PINs in use afterwards, if PINs were drawn.

    (When none was drawn, not every PIN was read: None.)
    """
    taken = set(plan.holders)
    drawing = any(not r.values.get("pin") for r in plan.creates)
    if drawing:
        # A PIN is drawn: it must avoid every PIN in use.
        taken.update(session.scalars(select(Customer.pin)))
    # PINs the rows give, to new and to existing members: a PIN drawn for a
    # row without one must avoid them too, or the write hits the unique index.
    taken.update(r.values["pin"] for r in plan.creates if "pin" in r.values)
    taken.update(diff["pin"] for _, diff in plan.updates if "pin" in diff)
    now = utcnow()
    default_plan = plan_members.default_plan_id(session)
    online = _online(session) if any("plan_id" in d for _, d in plan.updates) else set()
    plan_jobs = 0
    # (member, reason) of the disconnect jobs: written together after the loop.
    lost_jobs: list[tuple[str, str]] = []
    for current, diff in plan.updates:
        before = disconnects.AccessState.of(current)
        plan_before = current.plan_id
        if "pin" in diff:
            current.previous_pin = current.pin
            current.pin_changed_at = now
            report.pins[current.email] = diff["pin"]
        for key, value in diff.items():
            setattr(current, key, value)
        current.updated_at = now
        # As for the same change made one customer at a time (store/customers.py).
        lost = disconnects.lost_access(before, disconnects.AccessState.of(current), now)
        if lost is None and "pin" in diff:
            lost = disconnects.PIN_CHANGED
        if lost is not None:
            lost_jobs.append((current.email, lost))
        elif "plan_id" in diff:
            plan_jobs += plan_members.reassigned(
                session, current.email, plan_before, current.plan_id, actor, default_plan, online
            )
    session.flush()
    for chunk in _chunks([id_ for id_, _ in plan.disables]):
        # No ORM row of these is loaded: nothing in the session to synchronise.
        disable = update(Customer).where(Customer.id.in_(chunk))
        session.execute(
            disable.values(active=False, updated_at=now),
            execution_options={"synchronize_session": False},
        )
    lost_jobs += [(email, disconnects.DISABLED) for _, email in plan.disables]
    disconnects.enqueue_many(session, lost_jobs, actor, now=now)
    created = _insert(session, plan.creates, taken, report, now)
    changed = [c.id for c, _ in plan.updates] + [id_ for id_, _ in plan.disables] + created
    record_changes(session, CUSTOMER, changed)
    jobs = {"plan_changed_jobs": plan_jobs} if plan_jobs else {}
    if single:
        email = plan.creates[0].email if created else plan.updates[0][0].email
        result = {"created": True} if created else {"fields": report.changes[email]}
        audit(session, actor, action, email, **result, **jobs)
    else:
        disabled = {"disabled": len(plan.disables)} if plan.disables else {}
        counts = {"created": len(plan.creates), "updated": len(plan.updates)}
        audit(session, actor, action, "", **counts, **disabled, **jobs)
    session.commit()
    return taken if drawing else None
