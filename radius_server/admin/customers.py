"""Customers and their PINs: every admin operation once, for the CLI and any later caller."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, TextIO

from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.rules.validation import DEFAULT_WORD, MAX_EMAIL
from radius_server.rules.validity import window_end, window_start
from radius_server.store.access_plans import PlanRepository
from radius_server.store.csv_io import ImportReport, export_customers, import_customers
from radius_server.store.customers import CustomerChanges, CustomerRepository
from radius_server.store.errors import InvalidValue, PinTaken
from radius_server.store.journal import recent_audit
from radius_server.store.member_upsert import (
    PUBLIC_NAMES,
    FieldError,
    MemberRow,
    RowError,
    member_row,
    upsert_members,
)
from radius_server.store.records import AuditRecord, CustomerRecord

# A day an admin typed, or an exact instant.
When = date | datetime


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """What ``add`` needs; ``pin`` None draws a random one. Dates are whole local days."""

    email: str
    name: str = ""
    pin: str | None = None
    active: bool = True
    wifi_access: bool = True
    valid_from: When | None = None
    valid_until: When | None = None
    # A plan's name; None: the default plan.
    plan: str | None = None
    # Devices online at once (0 = unlimited); None: the device_limit setting.
    device_limit: int | None = None


@dataclass(frozen=True, slots=True)
class CustomerUpdate:
    """Changes to a customer; None leaves a field as it is. Dates are whole local days."""

    name: str | None = None
    active: bool | None = None
    wifi_access: bool | None = None
    valid_from: When | None = None
    valid_until: When | None = None
    clear_valid_from: bool = False
    clear_valid_until: bool = False
    # Devices online at once (0 = unlimited); clear_device_limit: back to the setting.
    device_limit: int | None = None
    clear_device_limit: bool = False
    # A plan's name, or "default" (rules/validation.DEFAULT_WORD) for the default plan.
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerResult:
    """A customer after an operation, whether it changed, and warnings to show its caller."""

    record: CustomerRecord
    changed: bool = True
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's state as a membership platform pushes it.

    ``fields`` uses the public names (name, pin, active, wifi_access, valid_from,
    valid_until, plan, device_limit): a key left out keeps the member's value (a
    new member gets the default); a None PIN keeps it (draws one for a new
    member); a None date clears that end of the window; a None plan is the default
    plan. Dates are whole local days, datetimes exact instants.
    """

    email: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What a push did to one member: ``outcome`` created, updated or unchanged."""

    outcome: str
    record: CustomerRecord
    changed: tuple[str, ...] = ()
    # Whether this push chose the member's PIN (drawn or given): only then is it shown.
    pin_set: bool = False
    warnings: tuple[str, ...] = ()


def plan_name(text: str | None) -> str | None:
    """A plan as an admin names it: None for the default plan ("default", any case)."""
    if text is None or text.strip().lower() == DEFAULT_WORD:
        return None
    return text


class CustomerAdmin:
    """Customer operations acting as ``actor``; each is one transaction with its audit row."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, zone: tzinfo) -> None:
        self._sessions = sessions
        self.actor = actor
        self.zone = zone

    def _repo(self) -> CustomerRepository:
        # One per call: its warnings belong to that call alone (a second caller may be
        # serving several requests at once).
        return CustomerRepository(self._sessions, actor=self.actor)

    def _window(self, start: When | None, end: When | None) -> dict[str, datetime | None]:
        """Validity as instants: a date is a whole day in the space's zone."""
        return {
            "valid_from": window_start(start, self.zone) if start is not None else None,
            "valid_until": window_end(end, self.zone) if end is not None else None,
        }

    def add(self, new: NewCustomer) -> CustomerResult:
        """Create a customer; a random PIN unless one is given."""
        repo = self._repo()
        record = repo.add(
            new.email,
            new.name,
            pin=new.pin.strip() if new.pin is not None else None,
            active=new.active,
            wifi_access=new.wifi_access,
            **self._window(new.valid_from, new.valid_until),
            plan=plan_name(new.plan),
            device_limit=new.device_limit,
        )
        return CustomerResult(record, warnings=tuple(repo.warnings))

    def get(self, email: str) -> CustomerRecord:
        """One customer (NotFound names the email)."""
        return self._repo().get(email)

    def find(
        self,
        *,
        active: bool | None = None,
        wifi_access: bool | None = None,
        search: str | None = None,
        plan: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[CustomerRecord]:
        """Customers matching every filter given; ``plan`` "default": the default plan's.

        ``after`` (an email) and ``limit``: one page, in email order.
        """
        repo = self._repo()
        if plan is not None and plan_name(plan) is None:
            plan = PlanRepository(self._sessions).default_name() or plan
        return repo.find(
            active=active,
            wifi_access=wifi_access,
            search=search,
            plan=plan,
            after=after,
            limit=limit,
        )

    def set_pin(self, email: str, pin: str) -> CustomerResult:
        """Give a customer ``pin``; the same PIN again changes nothing (``changed`` False).

        Nothing to change means no history entry, and the previous PIN (still
        recognised for a stale phone) is left as it was.
        """
        repo = self._repo()
        current = repo.get(email)
        if hmac.compare_digest(current.pin.encode(), pin.encode()):
            return CustomerResult(current, changed=False)
        record = repo.set_pin(email, pin)
        return CustomerResult(record, warnings=tuple(repo.warnings))

    def regenerate_pin(self, email: str) -> CustomerResult:
        """Give a customer a new random PIN."""
        repo = self._repo()
        record = repo.set_pin(email, None)
        return CustomerResult(record, warnings=tuple(repo.warnings))

    def update(self, email: str, update: CustomerUpdate) -> CustomerResult:
        """Change name, state, Wi-Fi access, validity, device limit or plan (enable/disable too).

        A new device limit reaches running servers through the change feed; devices
        already online stay on, and the limit applies to the next sign-in. A new
        plan reaches members online too (a plan_changed job: CoA or Disconnect).
        """
        repo = self._repo()
        changes = CustomerChanges(
            full_name=update.name,
            active=update.active,
            wifi_access=update.wifi_access,
            **self._window(update.valid_from, update.valid_until),
            clear_valid_from=update.clear_valid_from,
            clear_valid_until=update.clear_valid_until,
            device_limit=update.device_limit,
            clear_device_limit=update.clear_device_limit,
            plan=plan_name(update.plan),
            clear_plan=update.plan is not None and plan_name(update.plan) is None,
        )
        record = repo.update(email, changes)
        return CustomerResult(record, warnings=tuple(repo.warnings))

    def upsert(self, email: str, fields: Mapping[str, Any]) -> UpsertResult:
        """Create or update one member to the state ``fields`` (see MemberState), one transaction.

        Idempotent: the same state again is ``unchanged`` and writes nothing (no
        audit row). A PIN another member holds: PinTaken naming the holder.
        """
        if fields.get("pin"):
            pins.check_format(fields["pin"].strip())
        row = member_row(0, email, fields, self.zone)
        report = upsert_members(
            self._sessions, [row], actor=self.actor, action="customer.upsert", single=True
        )
        if report.errors:
            error = report.errors[0]
            if error.conflict:
                raise PinTaken(error.reason)
            raise FieldError(error.reason, error.field or "email")
        if report.created:
            outcome, changed = "created", sorted(PUBLIC_NAMES.get(k, k) for k in row.values)
        else:
            outcome = "updated" if report.updated else "unchanged"
            changed = report.changes.get(row.email, [])
        return UpsertResult(
            outcome,
            self._repo().get(row.email),
            tuple(changed),
            pin_set=row.email in report.pins,
            warnings=tuple(report.warnings),
        )

    def sync(
        self,
        states: Sequence[MemberState],
        *,
        disable_missing: bool = False,
        dry_run: bool = False,
    ) -> ImportReport:
        """Bring every member in ``states`` to that state in one transaction (a full sync).

        All or nothing: any bad item (its ``line`` is its index from 0) and nothing
        is written. ``disable_missing``: active members the feed leaves out are
        disabled; refused with an empty feed, which would disable everyone.
        """
        if disable_missing and not states:
            raise InvalidValue("an empty feed with disable_missing would disable every member")
        rows: list[MemberRow] = []
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        for index, state in enumerate(states):
            try:
                row = member_row(index, state.email, state.fields, self.zone)
            except InvalidValue as exc:
                where = getattr(exc, "field", None)
                errors.append(RowError(index, state.email.strip()[:MAX_EMAIL], str(exc), where))
                continue
            if row.email in seen:
                reason = f"duplicate email (first at index {seen[row.email]})"
                errors.append(RowError(index, row.email, reason, "email"))
                continue
            seen[row.email] = index
            rows.append(row)
        return upsert_members(
            self._sessions,
            rows,
            errors,
            actor=self.actor,
            action="customer.sync",
            dry_run=dry_run,
            disable_missing=disable_missing,
            unit="index",
        )

    def remove(self, email: str) -> CustomerRecord:
        """Delete a customer; their PIN stops working on every server."""
        return self._repo().remove(email)

    def import_csv(self, stream: TextIO, *, dry_run: bool = False) -> ImportReport:
        """Upsert customers from CSV: every row valid, or nothing written.

        The report counts members (``count``) without listing them: the file is
        read as it goes, and a list of every email would grow with it.
        """
        return import_customers(
            self._sessions,
            stream,
            actor=self.actor,
            dry_run=dry_run,
            zone=self.zone,
            itemized=False,
        )

    def export_csv(self, stream: TextIO, *, include_pin: bool = True) -> int:
        """Write every customer as CSV; return how many."""
        return export_customers(self._sessions, stream, include_pin=include_pin)

    def history(
        self, limit: int = 50, email: str | None = None, *, before_id: int | None = None
    ) -> list[AuditRecord]:
        """The audit trail, newest first; only actions on ``email`` when given.

        ``before_id``: only events older than that one (the next page of a listing).
        """
        # Not normalize_email: a malformed target finds nothing rather than failing.
        target = email.strip().lower() if email else None
        with self._sessions() as session:
            return recent_audit(session, limit, target, before_id)
