"""Upsert many members in one transaction: the engine of CSV import, API sync and PUT.

A caller hands over member states (``MemberRow``: an email and the fields it
gives) as a source it can read twice: a list, or a CSV file parsed as it is read
(store/csv_io.py). A first pass keeps only small keys (the first line giving each
PIN); the second checks and writes the rows in batches of 2,000 inside one
transaction, so memory does not grow with the number of members (see
docs/architecture.md "Members in bulk"). One bad row and the transaction is rolled
back: nothing is written. Creates, updates and (when asked) disables come with a
change-feed row per member (running servers follow the feed) and disconnect jobs
where access is taken away, as the one-member operations of store/customers.py do.

Field semantics, shared by the CSV columns and the API's JSON: a field that is
absent leaves the member's value as it is (a new member gets the default); an
absent or empty PIN keeps the PIN (draws one for a new member); a null date
clears that end of the window; a null or ``default`` plan gives the default plan.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.rules.pin_pool import PinPool
from radius_server.rules.plan_text import name_key
from radius_server.rules.validation import DEFAULT_WORD, check_device_limit, check_name, quote
from radius_server.rules.validity import window_end, window_start
from radius_server.store import disconnects, plan_members
from radius_server.store.bulk_insert import insert_rows
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
# Rows checked and written together: what is held in memory at once.
BATCH = 2000
# Given PINs beyond which reading every holder at once beats asking for each.
_READ_ALL_PINS = 5000
# No line gives this PIN (lines and indexes start at 0 or 1).
_NO_LINE = -1
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


OUTCOMES = ("created", "updated", "unchanged", "disabled")


@dataclass(slots=True)
class ImportReport:
    """What an upsert did, or would do (dry run), or why it did nothing.

    ``itemized`` False (a CSV import from the CLI, which prints counts): the lists of
    emails, ``changes`` and ``pins`` stay empty and only ``counts`` grow, so a report
    of 100,000 members costs nothing. Errors are always listed.
    """

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
    itemized: bool = True
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def ok(self) -> bool:
        """True when no row was bad."""
        return not self.errors

    def count(self, outcome: str) -> int:
        """How many members were (or would be) created, updated, unchanged or disabled."""
        return self.counts[outcome]

    def add(self, outcome: str, email: str) -> None:
        """Count one member's outcome (and list it, when itemized)."""
        self.counts[outcome] += 1
        if self.itemized:
            getattr(self, outcome).append(email)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the CLI's ``customer import --json``)."""
        return {
            "ok": self.ok,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "written": self.written,
            "created": self.count("created"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
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


class RowSource(Protocol):
    """Rows to upsert, readable more than once: each ``iter()`` starts from the first again.

    A list is one; so is store/csv_io.CsvRows, which parses its file anew each time.
    """

    def __iter__(self) -> Iterator[MemberRow]: ...


def _no_pin_lines() -> array[int]:
    return array("q", [_NO_LINE]) * pins.PIN_SPACE


@dataclass(slots=True)
class RowKeys:
    """What the write pass must know of every row before it starts: small keys, not rows.

    ``pin_lines``: the first line (or index) giving each PIN, by the PIN's number
    (800 kB for the whole space, however many rows); ``emails`` only for
    ``disable_missing``, which must know who is left out.
    """

    count: int = 0
    given: int = 0
    pin_lines: array[int] = field(default_factory=_no_pin_lines)
    emails: set[str] | None = None

    @classmethod
    def of(cls, rows: Iterable[MemberRow], *, emails: bool = False) -> RowKeys:
        """One pass over ``rows``."""
        keys = cls(emails=set() if emails else None)
        for row in rows:
            keys.count += 1
            pin = row.values.get("pin")
            if pin is not None and keys.pin_lines[int(pin)] == _NO_LINE:
                keys.pin_lines[int(pin)] = row.line
                keys.given += 1
            if keys.emails is not None:
                keys.emails.add(row.email)
        return keys

    def given_pins(self) -> Iterator[str]:
        """Every PIN some row gives, in order."""
        return (f"{code:05d}" for code, line in enumerate(self.pin_lines) if line != _NO_LINE)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(rows: Iterable[MemberRow]) -> Iterator[list[MemberRow]]:
    batch: list[MemberRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


_TABLE = Customer.__table__
# What a check and an update need of an existing member: a plain row, not an ORM object.
_COLUMNS = [
    _TABLE.c[name]
    for name in (
        "id",
        "email",
        "pin",
        "full_name",
        "active",
        "wifi_access",
        "valid_from",
        "valid_until",
        "plan_id",
        "device_limit",
    )
]


def _existing(session: Session, emails: Sequence[str]) -> dict[str, Row[Any]]:
    """The members with these emails, in a few queries (not one per member)."""
    found: dict[str, Row[Any]] = {}
    for chunk in _chunks(emails):
        found.update(
            (r.email, r)
            for r in session.execute(select(*_COLUMNS).where(_TABLE.c.email.in_(chunk)))
        )
    return found


def _holders(session: Session, keys: RowKeys) -> array[int]:
    """The id of who holds each PIN the rows give (by the PIN's number; 0: nobody).

    Read before anything is written, so every row is checked against the members
    as they were. Few PINs given: only those (reading every PIN cost a one-member
    push about 280 ms at 100,000 members); many: every holder in one streamed query.
    """
    found = array("q", bytes(8 * pins.PIN_SPACE))
    if not keys.given:
        return found
    query = select(Customer.pin, Customer.id)
    if keys.given > _READ_ALL_PINS:
        queries = [query.execution_options(yield_per=10_000)]
    else:
        queries = [query.where(Customer.pin.in_(c)) for c in _chunks(list(keys.given_pins()))]
    for each in queries:
        for pin, id_ in session.execute(each):
            if pins.is_valid_format(pin) and keys.pin_lines[int(pin)] != _NO_LINE:
                found[int(pin)] = id_
    return found


def _emails_of(session: Session, ids: Collection[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(ids)):
        query = select(Customer.id, Customer.email).where(Customer.id.in_(chunk))
        found.update((id_, email) for id_, email in session.execute(query))
    return found


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


def _differs(current: Row[Any], key: str, value: Any) -> bool:
    old = getattr(current, key)
    return (as_utc(old) if key.startswith("valid") else old) != value


class _Attempt:
    """One try at an upsert in one transaction: check each batch, write it while all is well.

    Every check reads the members as they were before this transaction wrote
    anything: a row names only its own email (duplicates are refused earlier) and
    the PINs' holders are read up front. So a dry run and a real run find the same
    errors, whatever the order of the rows.
    """

    def __init__(
        self,
        session: Session,
        report: ImportReport,
        keys: RowKeys,
        *,
        actor: str,
        unit: str,
    ) -> None:
        self.session = session
        self.report = report
        self.keys = keys
        self.actor = actor
        self.unit = unit
        self.now = utcnow()
        self.holders = _holders(session, keys)
        self.plan_ids = {
            name_key(name): id_
            for id_, name in session.execute(select(AccessPlan.id, AccessPlan.name))
        }
        # Filled as batches are written; the feed rows go in last, next to the commit.
        self.changed = array("q")
        self.created = 0
        self.updated = 0
        self.plan_jobs = 0
        self.first: tuple[str, bool] | None = None  # (email, created) of the first write
        self._pool: PinPool | None = None
        # PINs that updates gave up: a drawn PIN avoids them, as it would had every
        # PIN been read before the first write.
        self._freed: list[str] = []
        self._online: set[str] | None = None
        self._default_plan: int | None = None

    @property
    def writing(self) -> bool:
        """Whether batches are written: not a dry run, and no bad row so far."""
        return not self.report.dry_run and self.report.ok

    def check(self, rows: list[MemberRow]) -> None:
        """Check one batch against the database; write it unless a row so far was bad."""
        report, unit = self.report, self.unit
        existing = _existing(self.session, [r.email for r in rows])
        creates: list[MemberRow] = []
        updates: list[tuple[Row[Any], dict[str, Any]]] = []
        taken: list[tuple[MemberRow, int]] = []  # rows whose PIN another member holds
        for parsed in rows:
            row, problem = _with_plan_id(parsed, self.plan_ids)
            where = "plan" if problem else None
            current = existing.get(row.email)
            holder = 0
            pin = row.values.get("pin")
            if pin is not None:
                code = int(pin)
                first = self.keys.pin_lines[code]
                holder = self.holders[code]
                if holder and current is not None and holder == current.id:
                    holder = 0  # already this member's
                elif not holder and first != row.line:
                    problem, where = f"PIN also given on {unit} {first}", "pin"
            start = row.values.get("valid_from", current.valid_from if current else None)
            end = row.values.get("valid_until", current.valid_until if current else None)
            try:
                check_window(start, end)
            except InvalidValue as exc:
                if not problem and not holder:
                    problem, where = str(exc), "valid_until"
            if holder:
                taken.append((row, holder))
            elif problem:
                report.errors.append(RowError(row.line, row.email, problem, where))
            elif current is None:
                creates.append(row)
                report.add("created", row.email)
            else:
                diff = {k: v for k, v in row.values.items() if _differs(current, k, v)}
                if diff:
                    updates.append((current, diff))
                    report.add("updated", row.email)
                    if report.itemized:
                        report.changes[row.email] = sorted(PUBLIC_NAMES.get(k, k) for k in diff)
                else:
                    report.add("unchanged", row.email)
        if taken:
            owners = _emails_of(self.session, {holder for _, holder in taken})
            for row, holder in taken:
                # The holder, never the PIN: as the one-member operations say it.
                reason = f"PIN taken by {owners.get(holder, 'another member')}"
                report.errors.append(RowError(row.line, row.email, reason, "pin", True))
        if self.writing:
            self._update(updates)
            self._insert(creates)

    def _update(self, updates: list[tuple[Row[Any], dict[str, Any]]]) -> None:
        """Apply changed fields: one executemany per set of fields changed."""
        report, now = self.report, self.now
        # (member, reason) of the disconnect jobs, as the one-member operations queue them.
        lost_jobs: list[tuple[str, str]] = []
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for current, diff in updates:
            values = dict(diff)
            if "pin" in diff:
                values["previous_pin"] = current.pin
                values["pin_changed_at"] = now
                self._freed.append(current.pin)
                if self._pool is not None:
                    self._pool.add(current.pin)
                if report.itemized:
                    report.pins[current.email] = diff["pin"]
            before = disconnects.AccessState.of(current)  # type: ignore[arg-type]
            after = disconnects.AccessState(
                bool(values.get("active", current.active)),
                bool(values.get("wifi_access", current.wifi_access)),
                as_utc(values.get("valid_until", current.valid_until)),
            )
            # As for the same change made one customer at a time (store/customers.py).
            lost = disconnects.lost_access(before, after, now)
            if lost is None and "pin" in diff:
                lost = disconnects.PIN_CHANGED
            if lost is not None:
                lost_jobs.append((current.email, lost))
            elif "plan_id" in diff:
                self.plan_jobs += plan_members.reassigned(
                    self.session,
                    current.email,
                    current.plan_id,
                    diff["plan_id"],
                    self.actor,
                    self.default_plan(),
                    self.online(),
                )
            params = {f"v_{k}": v for k, v in values.items()}
            params["v_id"] = current.id
            groups.setdefault(tuple(sorted(values)), []).append(params)
            self.changed.append(current.id)
            self.first = self.first or (current.email, False)
        for names, params_list in groups.items():
            statement = (
                update(_TABLE)
                .where(_TABLE.c.id == bindparam("v_id"))
                .values({**{name: bindparam(f"v_{name}") for name in names}, "updated_at": now})
            )
            self.session.execute(statement, params_list)
        self.updated += len(updates)
        disconnects.enqueue_many(self.session, lost_jobs, self.actor, now=now)

    def _insert(self, creates: list[MemberRow]) -> None:
        """Insert new members in one executemany (not one ORM object each)."""
        if not creates:
            return
        report, now = self.report, self.now
        rows: list[dict[str, Any]] = []
        for row in creates:
            pin = row.values.get("pin") or self.draw()
            if report.itemized:
                report.pins[row.email] = pin
            rows.append(
                {
                    **_NEW,
                    **row.values,
                    "email": row.email,
                    "pin": pin,
                    "created_at": now,
                    "updated_at": now,
                    "pin_changed_at": now,
                }
            )
        insert_rows(self.session, _TABLE, rows)
        for chunk in _chunks([row.email for row in creates]):
            query = select(_TABLE.c.id).where(_TABLE.c.email.in_(chunk))
            self.changed.extend(self.session.scalars(query))
        self.created += len(rows)
        self.first = self.first or (creates[0].email, True)

    def draw(self) -> str:
        """A free PIN: every PIN in use is read at the first draw (one byte per code)."""
        if self._pool is None:
            query = select(Customer.pin).execution_options(yield_per=10_000)
            pool = PinPool(self.session.scalars(query))
            # PINs the rows give, to new and to existing members, written or not yet:
            # a PIN drawn for a row without one must avoid them, or a later batch
            # hits the unique index.
            for pin in (*self.keys.given_pins(), *self._freed):
                pool.add(pin)
            self._pool = pool
        return self._pool.draw()

    @property
    def pool(self) -> PinPool | None:
        """The PINs in use, if a PIN was drawn (else not every PIN was read)."""
        return self._pool

    def online(self) -> set[str]:
        """Members with a session open: one query, for every plan change of the upsert."""
        if self._online is None:
            query = select(AccountingSession.member_email).where(
                AccountingSession.stopped_at.is_(None)
            )
            self._online = {email for email in self.session.scalars(query.distinct()) if email}
        return self._online

    def default_plan(self) -> int | None:
        """The default plan's id, read once."""
        if self._default_plan is None:
            self._default_plan = plan_members.default_plan_id(self.session)
        return self._default_plan

    def disable_missing(self) -> None:
        """Disable the active members the rows leave out (after every row was checked)."""
        wanted = self.keys.emails or set()
        query = select(Customer.id, Customer.email).where(Customer.active.is_(True))
        missing = sorted(
            ((email, id_) for id_, email in self.session.execute(query) if email not in wanted)
        )
        for email, _ in missing:
            self.report.add("disabled", email)
        if not self.writing:
            return
        for chunk in _chunks([id_ for _, id_ in missing]):
            disable = update(_TABLE).where(_TABLE.c.id.in_(chunk))
            self.session.execute(disable.values(active=False, updated_at=self.now))
        self.changed.extend(id_ for _, id_ in missing)
        jobs = [(email, disconnects.DISABLED) for email, _ in missing]
        disconnects.enqueue_many(self.session, jobs, self.actor, now=self.now)

    def finish(self, action: str, single: bool) -> bool:
        """Feed rows, the audit row and the commit, when all went well; whether it wrote."""
        report = self.report
        if not self.writing or not self.changed:
            return False
        for chunk in _chunks(self.changed, 5000):
            record_changes(self.session, CUSTOMER, chunk)
        jobs = {"plan_changed_jobs": self.plan_jobs} if self.plan_jobs else {}
        if single and self.first is not None:
            email, created = self.first
            result = {"created": True} if created else {"fields": report.changes[email]}
            audit(self.session, self.actor, action, email, **result, **jobs)
        else:
            disabled = {"disabled": report.count("disabled")} if report.count("disabled") else {}
            counts = {"created": self.created, "updated": self.updated}
            audit(self.session, self.actor, action, "", **counts, **disabled, **jobs)
        self.session.commit()
        return True


def upsert_members(
    sessions: sessionmaker[Session],
    rows: RowSource,
    errors: Sequence[RowError] = (),
    *,
    actor: str,
    action: str,
    dry_run: bool = False,
    disable_missing: bool = False,
    single: bool = False,
    unit: str = "line",
    keys: RowKeys | None = None,
    itemized: bool = True,
) -> ImportReport:
    """Check every row, then (unless dry run or any error) write them in one transaction.

    ``rows`` is read twice or more (see RowSource): once for ``keys`` (unless given:
    csv_io gathers them while it validates), then batch by batch to check and
    write. ``errors``: rows the caller already found bad (nothing is written then
    either). ``action``: the audit action. A bulk upsert writes one audit row with
    the counts; ``single`` (one member, the API's PUT) writes the member's own row
    instead. Nothing to change writes nothing, not even an audit row, so a retried
    push is harmless. ``disable_missing``: active members not among ``rows`` are
    disabled. ``unit``: what a row's ``line`` is, in messages ("line" of a file,
    "index" in a feed). ``itemized``: see ImportReport.
    """
    if keys is None or (disable_missing and keys.emails is None):
        keys = RowKeys.of(rows, emails=disable_missing)
    for _ in range(_WRITE_ATTEMPTS):
        report = ImportReport(
            dry_run=dry_run, errors=list(errors), rows=keys.count + len(errors), itemized=itemized
        )
        with sessions() as session:
            try:
                attempt = _Attempt(session, report, keys, actor=actor, unit=unit)
                for batch in _batches(rows):
                    attempt.check(batch)
                if disable_missing and report.ok:
                    attempt.disable_missing()
                report.errors.sort(key=lambda e: e.line)
                if not attempt.finish(action, single):
                    # A bad row, a dry run or nothing to change: whatever the batches
                    # wrote is rolled back as the session closes.
                    return report
            except IntegrityError:
                # Another admin took one of these emails or PINs after the check read
                # them. One transaction: nothing is written. Check again against
                # what is there now, which names the row and the conflict.
                session.rollback()
                continue
        report.written = True
        # Fullness is known (and matters) only where PINs were drawn.
        pool = attempt.pool
        state = pool.fullness() if pool is not None else None
        report.warnings = [state.message()] if state and state.should_warn else []
        return report
    raise StoreError(
        "other admins kept changing the same customers meanwhile; nothing was written: try again"
    )
