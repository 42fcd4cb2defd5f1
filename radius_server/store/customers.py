"""Customer repository: create, change PIN, enable/disable, remove, list.

Every method runs in its own transaction and either commits entirely or
raises a StoreError having written nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.rules.validation import (
    DEFAULT_WORD,
    MAX_EMAIL,
    check_device_limit,
    check_name,
    has_control,
    quote,
)
from radius_server.store import disconnects, plan_members
from radius_server.store.access_plans import plan_by_name
from radius_server.store.database import begin_write
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound, PinTaken, checked
from radius_server.store.journal import CUSTOMER, audit, record_change, utcnow
from radius_server.store.models import Customer
from radius_server.store.records import CustomerRecord, as_utc

# Deliberately simple: one @, no spaces, a dot in the domain. Full RFC 5322 is
# not the point; catching typos from a membership export is.
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# Drawing a fresh PIN can collide with a concurrent writer; retry this often.
_DRAW_ATTEMPTS = 25


def normalize_email(email: str) -> str:
    """Trim and lower-case an email, or raise InvalidValue."""
    value = email.strip().lower()
    # \s leaves out NUL, ESC and BEL: control characters are refused explicitly.
    if len(value) > MAX_EMAIL or has_control(value) or not _EMAIL_RE.fullmatch(value):
        raise InvalidValue(f"not a valid email address: {quote(email.strip())}")
    return value


def to_record(row: Customer) -> CustomerRecord:
    """ORM row to plain value."""
    return CustomerRecord(
        id=row.id,
        email=row.email,
        full_name=row.full_name,
        pin=row.pin,
        active=row.active,
        wifi_access=row.wifi_access,
        valid_from=as_utc(row.valid_from),
        valid_until=as_utc(row.valid_until),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        pin_changed_at=as_utc(row.pin_changed_at),
        previous_pin=row.previous_pin,
        device_limit=row.device_limit,
        plan_id=row.plan_id,
    )


@dataclass(frozen=True, slots=True)
class CustomerChanges:
    """Optional field updates; None means leave unchanged."""

    full_name: str | None = None
    active: bool | None = None
    wifi_access: bool | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    clear_valid_from: bool = False
    clear_valid_until: bool = False
    # Devices online at once (0 = unlimited); clear_device_limit: the server's setting again.
    device_limit: int | None = None
    clear_device_limit: bool = False
    # A plan by name; clear_plan: the default plan (members online get plan_changed jobs).
    plan: str | None = None
    clear_plan: bool = False


def to_utc(value: datetime | None) -> datetime | None:
    """Convert to UTC: SQLite stores a datetime's clock reading and drops its offset."""
    return None if value is None else as_utc(value).astimezone(UTC)


def check_window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    """Refuse a validity window that ends before it starts."""
    if valid_from and valid_until and as_utc(valid_until) <= as_utc(valid_from):
        raise InvalidValue("valid-until must be later than valid-from")


def used_pins(session: Session) -> set[str]:
    """Every PIN in use."""
    return set(session.scalars(select(Customer.pin)))


def pin_owner(session: Session, pin: str) -> Customer | None:
    """The customer holding ``pin``, if any."""
    return session.scalars(select(Customer).where(Customer.pin == pin)).first()


def taken_error(session: Session, pin: str) -> PinTaken:
    """A PinTaken naming the holder (admins may know it), never the PIN itself."""
    owner = pin_owner(session, pin)
    holder = owner.email if owner is not None else "another customer"
    return PinTaken(f"that PIN is already used by {holder}")


class CustomerRepository:
    """Customer operations on top of a session factory."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "system") -> None:
        self._sessions = sessions
        self.actor = actor
        # Warnings from the last call (e.g. PIN space 90% full), for the CLI to print.
        self.warnings: list[str] = []

    def _load(self, session: Session, email: str) -> Customer:
        row = session.scalars(
            select(Customer).where(Customer.email == normalize_email(email))
        ).first()
        if row is None:
            raise NotFound(f"no customer with email {email.strip().lower()}")
        return row

    def _check_fullness(self, taken: set[str]) -> None:
        state = pins.fullness(taken)
        if state.should_warn:
            self.warnings.append(state.message())

    def add(
        self,
        email: str,
        full_name: str = "",
        *,
        pin: str | None = None,
        active: bool = True,
        wifi_access: bool = True,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        plan: str | None = None,
        device_limit: int | None = None,
    ) -> CustomerRecord:
        """Create a customer with ``pin`` or, by default, a freshly drawn one.

        ``plan``: a plan's name; None gives the default plan. ``device_limit``: devices
        online at once (0 = unlimited); None follows the server's setting.
        """
        self.warnings = []
        address = normalize_email(email)
        name = checked(check_name, full_name)
        check_window(valid_from, valid_until)
        if device_limit is not None:
            try:
                check_device_limit(device_limit)
            except ValueError as exc:
                raise InvalidValue(str(exc)) from None
        if pin is not None:
            pins.check_format(pin)
        valid_from, valid_until = to_utc(valid_from), to_utc(valid_until)
        with self._sessions() as session:
            begin_write(session)
            if session.scalar(select(Customer.id).where(Customer.email == address)) is not None:
                raise AlreadyExists(f"a customer with email {address} already exists")
            taken = used_pins(session)
            if pin is not None and pin in taken:
                raise taken_error(session, pin)
            chosen_plan = plan_by_name(session, plan) if plan is not None else None
            plan_id = chosen_plan.id if chosen_plan is not None else None
            for _ in range(_DRAW_ATTEMPTS):
                chosen = pin if pin is not None else pins.draw_pin(taken)
                now = utcnow()
                row = Customer(
                    email=address,
                    full_name=name,
                    pin=chosen,
                    active=active,
                    wifi_access=wifi_access,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    created_at=now,
                    updated_at=now,
                    pin_changed_at=now,
                    plan_id=plan_id,
                    device_limit=device_limit,
                )
                try:
                    # A savepoint: a unique violation from a concurrent writer
                    # undoes only this attempt, and we draw again.
                    with session.begin_nested():
                        session.add(row)
                        session.flush()
                except IntegrityError:
                    taken = used_pins(session)
                    if session.scalar(select(Customer.id).where(Customer.email == address)):
                        raise AlreadyExists(
                            f"a customer with email {address} already exists"
                        ) from None
                    if pin is not None:
                        raise PinTaken("that PIN was just taken by another customer") from None
                    continue
                record_change(session, CUSTOMER, row.id)
                audit(
                    session,
                    self.actor,
                    "customer.add",
                    address,
                    pin_source="random" if pin is None else "admin",
                    **({"plan": chosen_plan.name} if chosen_plan is not None else {}),
                )
                session.commit()
                self._check_fullness(taken | {chosen})
                return to_record(row)
        raise PinTaken("could not draw a free PIN after several attempts; try again")

    def get(self, email: str) -> CustomerRecord:
        """One customer by email (any case)."""
        with self._sessions() as session:
            return to_record(self._load(session, email))

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
        """Customers ordered by email, optionally filtered.

        ``plan``: members who get that plan (for the default plan, members without one too).
        ``after``/``limit``: one page (keyset on the unique email index: a page costs the
        same however deep it is, and a member added meanwhile is neither skipped nor
        repeated).
        """
        query = select(Customer).order_by(Customer.email)
        if after is not None:
            query = query.where(Customer.email > after)
        if limit is not None:
            query = query.limit(limit)
        if active is not None:
            query = query.where(Customer.active.is_(active))
        if wifi_access is not None:
            query = query.where(Customer.wifi_access.is_(wifi_access))
        if search:
            # autoescape: a "%" or "_" typed by the admin is a character, not a wildcard.
            text = search.strip().lower()
            query = query.where(
                Customer.email.contains(text, autoescape=True)
                | func.lower(Customer.full_name).contains(text, autoescape=True)
            )
        with self._sessions() as session:
            if plan is not None:
                chosen = plan_by_name(session, plan)
                query = query.where(plan_members.members_of(session, [chosen.id]))
            return [to_record(row) for row in session.scalars(query)]

    def count(self) -> int:
        """Number of customers."""
        with self._sessions() as session:
            return session.scalar(select(func.count(Customer.id))) or 0

    def set_pin(self, email: str, new_pin: str | None = None) -> CustomerRecord:
        """Give a customer ``new_pin`` (validated, unique) or a freshly drawn PIN.

        The old PIN stops working as soon as the transaction commits: running
        servers follow the change feed.
        """
        self.warnings = []
        if new_pin is not None:
            pins.check_format(new_pin)
        with self._sessions() as session:
            begin_write(session)
            row = self._load(session, email)
            if new_pin is not None and new_pin == row.pin:
                return to_record(row)
            taken = used_pins(session)
            if new_pin is not None and new_pin in taken:
                raise taken_error(session, new_pin)
            previous = row.pin
            for _ in range(_DRAW_ATTEMPTS):
                chosen = new_pin if new_pin is not None else pins.draw_pin(taken)
                try:
                    with session.begin_nested():
                        row.previous_pin = previous
                        row.pin = chosen
                        row.pin_changed_at = row.updated_at = utcnow()
                        session.flush()
                except IntegrityError:
                    if new_pin is not None:
                        raise PinTaken("that PIN was just taken by another customer") from None
                    taken = used_pins(session)
                    continue
                record_change(session, CUSTOMER, row.id)
                # Devices signed in with the old PIN are sent away (RFC 5176).
                disconnects.enqueue(session, row.email, disconnects.PIN_CHANGED, self.actor)
                audit(
                    session,
                    self.actor,
                    "customer.set_pin" if new_pin else "customer.regenerate_pin",
                    row.email,
                )
                session.commit()
                self._check_fullness(taken | {chosen})
                return to_record(row)
        raise PinTaken("could not draw a free PIN after several attempts; try again")

    def update(self, email: str, changes: CustomerChanges) -> CustomerRecord:
        """Apply field changes (name, active, Wi-Fi access, validity window, device limit, plan).

        A new plan reaches a member online at once: a plan_changed job (unless the
        change takes their access away, which disconnects them anyway).
        """
        if changes.plan is not None and changes.clear_plan:
            raise InvalidValue("give a plan or the default plan, not both")
        with self._sessions() as session:
            row = self._load(session, email)
            before = disconnects.AccessState.of(row)
            changed = self._apply(row, changes)
            plan_before = row.plan_id
            plan_name = None
            if changes.plan is not None:
                chosen = plan_by_name(session, changes.plan)
                row.plan_id, plan_name = chosen.id, chosen.name
            elif changes.clear_plan:
                row.plan_id, plan_name = None, DEFAULT_WORD
            if row.plan_id != plan_before:
                changed.append("plan")
            if changed:
                row.updated_at = now = utcnow()
                session.flush()
                record_change(session, CUSTOMER, row.id)
                lost = disconnects.lost_access(before, disconnects.AccessState.of(row), now)
                if lost is not None:
                    # Sessions that may no longer be online end now (RFC 5176).
                    disconnects.enqueue(session, row.email, lost, self.actor, now=now)
                elif "plan" in changed:
                    default = plan_members.default_plan_id(session)
                    plan_members.reassigned(
                        session, row.email, plan_before, row.plan_id, self.actor, default
                    )
                # The device limit is no secret: its new value helps whoever reads the trail.
                limit = {"device_limit": row.device_limit} if "device_limit" in changed else {}
                if "plan" in changed:
                    limit["plan"] = plan_name
                audit(
                    session,
                    self.actor,
                    "customer.update",
                    row.email,
                    fields=sorted(changed),
                    **limit,
                )
                session.commit()
            return to_record(row)

    @staticmethod
    def _apply(row: Customer, changes: CustomerChanges) -> list[str]:
        valid_from = to_utc(
            None if changes.clear_valid_from else (changes.valid_from or row.valid_from)
        )
        valid_until = to_utc(
            None if changes.clear_valid_until else (changes.valid_until or row.valid_until)
        )
        check_window(valid_from, valid_until)
        wanted = {
            "full_name": checked(check_name, changes.full_name)
            if changes.full_name is not None
            else None,
            "active": changes.active,
            "wifi_access": changes.wifi_access,
        }
        changed = [k for k, v in wanted.items() if v is not None and getattr(row, k) != v]
        for key in changed:
            setattr(row, key, wanted[key])
        for key, value in (("valid_from", valid_from), ("valid_until", valid_until)):
            if as_utc(getattr(row, key)) != as_utc(value):
                setattr(row, key, value)
                changed.append(key)
        if changes.clear_device_limit or changes.device_limit is not None:
            limit = None if changes.clear_device_limit else changes.device_limit
            if limit is not None:
                try:
                    check_device_limit(limit)
                except ValueError as exc:
                    raise InvalidValue(str(exc)) from None
            if row.device_limit != limit:
                row.device_limit = limit
                changed.append("device_limit")
        return changed

    def remove(self, email: str) -> CustomerRecord:
        """Delete a customer; their PIN stops working at once and becomes free."""
        with self._sessions() as session:
            row = self._load(session, email)
            record = to_record(row)
            session.delete(row)
            record_change(session, CUSTOMER, record.id)
            disconnects.enqueue(session, record.email, disconnects.REMOVED, self.actor)
            audit(session, self.actor, "customer.remove", record.email)
            session.commit()
            return record
