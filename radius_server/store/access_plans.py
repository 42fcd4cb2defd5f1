"""Plan repository: add, list with member counts, show, update, remove access plans.

Every method runs in its own transaction and either commits entirely (with its
change-feed row, audit event and plan_changed jobs) or raises a StoreError
having written nothing. A plan is checked before it is written: the text rules
(rules/plan_text.py), then ``rules.plans.compile_plan`` exactly as a server will
compile it, so a plan that is saved is a plan every server can use.

Names are unique ignoring case and found ignoring case. Exactly one plan is the
default (for members without one): ``default=True`` moves the flag in the same
transaction, and the default plan cannot be removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import plan_text
from radius_server.rules.plans import PlanError, compile_plan
from radius_server.rules.validation import TextError, quote
from radius_server.store import plan_members
from radius_server.store.database import begin_write
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound, checked
from radius_server.store.journal import PLAN, audit, record_change, utcnow
from radius_server.store.models import AccessPlan, Customer, PlanLocation, SiteLocation
from radius_server.store.plans import encode_reply_attributes, plan_to_record
from radius_server.store.records import LocationRecord, PlanRecord, iso

# A plan's value for an optional field: a number, the hours text, or None (not set).
Setting = int | str | None


@dataclass(frozen=True, slots=True)
class PlanChanges:
    """What to change in a plan; every default leaves the plan as it is.

    ``settings``: optional fields (rules/plan_text.OPTIONAL_FIELDS) to set, None
    clearing one. ``locations``: the names where it is valid (replaces the list);
    ``all_locations``: valid everywhere. ``reply_attributes``: the new list
    (``()`` empties it). ``make_default``: members without a plan get this one.
    """

    name: str | None = None
    settings: Mapping[str, Setting] = field(default_factory=dict)
    locations: tuple[str, ...] | None = None
    all_locations: bool = False
    reply_attributes: tuple[tuple[str, str], ...] | None = None
    make_default: bool = False


@dataclass(frozen=True, slots=True)
class PlanView:
    """A plan with what an admin wants beside it: location names and member count."""

    record: PlanRecord
    members: int
    locations: tuple[LocationRecord, ...] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (reply attributes as [name, value] pairs)."""
        r = self.record
        return {
            "id": r.id,
            "name": r.name,
            "default": r.is_default,
            "members": self.members,
            **{name: getattr(r, name) for name in plan_text.OPTIONAL_FIELDS},
            "locations": None if self.locations is None else [loc.name for loc in self.locations],
            "reply_attributes": [list(pair) for pair in r.reply_attributes],
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
        }


def check_settings(settings: Mapping[str, Setting]) -> dict[str, Setting]:
    """Each optional field checked (numbers in range, hours text); InvalidValue names it."""
    checked_settings: dict[str, Setting] = {}
    for name, value in settings.items():
        if name not in plan_text.OPTIONAL_FIELDS:
            raise InvalidValue(f"a plan has no field {quote(name)}")
        try:
            if value is None:
                checked_settings[name] = None
            elif name == "hours":
                checked_settings[name] = plan_text.check_hours(str(value))
            else:
                checked_settings[name] = plan_text.check_number(name, value)  # type: ignore[arg-type]
        except TextError as exc:
            raise InvalidValue(str(exc)) from None
    return checked_settings


def _named(
    session: Session, model: type[AccessPlan] | type[SiteLocation], name: str
) -> tuple[int, str] | None:
    """The id and name of the row called ``name`` (plan_text.name_key: any case)."""
    key = plan_text.name_key(name)
    # A handful of rows: compared here, the same on SQLite and PostgreSQL.
    for row_id, row_name in session.execute(select(model.id, model.name)):
        if plan_text.name_key(row_name) == key:
            return row_id, row_name
    return None


def unique_name(
    session: Session,
    model: type[AccessPlan] | type[SiteLocation],
    name: str,
    what: str,
    own_id: int | None = None,
) -> None:
    """Refuse ``name`` when another plan (or location) has it in any case, naming that one."""
    other = _named(session, model, name)
    if other is not None and other[0] != own_id:
        raise AlreadyExists(f"a {what} named {quote(other[1])} already exists")


def plan_by_name(session: Session, name: str) -> AccessPlan:
    """The plan called ``name`` (any case), or NotFound naming it."""
    found = _named(session, AccessPlan, name)
    row = session.get(AccessPlan, found[0]) if found is not None else None
    if row is None:
        raise NotFound(f"no plan named {quote(name.strip())}")
    return row


def _where(names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A plan's location names: None everywhere; an empty list is refused (valid nowhere)."""
    if names is not None and not names:
        raise InvalidValue("locations: give at least one location, or all locations")
    return names


def locations_by_name(session: Session, names: tuple[str, ...]) -> list[SiteLocation]:
    """The locations called ``names`` (any case), in order; NotFound names the first unknown."""
    rows = {plan_text.name_key(row.name): row for row in session.scalars(select(SiteLocation))}
    found = []
    for name in names:
        row = rows.get(plan_text.name_key(name))
        if row is None:
            raise NotFound(f"no location named {quote(name.strip())} (see 'location list')")
        found.append(row)
    return found


def member_counts(session: Session) -> dict[int, int]:
    """Plan id -> members who get it (members without a plan count for the default)."""
    counts: dict[int, int] = {}
    default = plan_members.default_plan_id(session)
    for plan_id, count in session.execute(
        select(Customer.plan_id, func.count(Customer.id)).group_by(Customer.plan_id)
    ):
        key = plan_id if plan_id is not None else default
        if key is not None:
            counts[key] = counts.get(key, 0) + count
    return counts


def _location_ids(session: Session, plan_id: int) -> frozenset[int]:
    return frozenset(
        session.scalars(select(PlanLocation.location_id).where(PlanLocation.plan_id == plan_id))
    )


def _record(session: Session, row: AccessPlan) -> PlanRecord:
    return plan_to_record(row, None if row.all_locations else _location_ids(session, row.id))


def _lock_plans(session: Session) -> None:
    """Lock every plan row, in id order, first thing in a transaction moving the default.

    Two admins moving the flag at once then take turns (PostgreSQL; SQLite's BEGIN
    IMMEDIATE already did), and one default remains. Taken before any other plan
    row is written, so two such transactions cannot deadlock.
    """
    session.scalars(select(AccessPlan.id).order_by(AccessPlan.id).with_for_update()).all()


def _compile(record: PlanRecord) -> None:
    """The plan as a server will compile it; PlanError becomes InvalidValue, same message."""
    try:
        compile_plan(record.definition())
    except PlanError as exc:
        raise InvalidValue(str(exc)) from None


class PlanRepository:
    """Plan operations on top of a session factory."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "system") -> None:
        self._sessions = sessions
        self.actor = actor

    def _take_default(self, session: Session, row: AccessPlan) -> list[str]:
        """Make ``row`` the default plan; the members this moves who are online.

        The caller took :func:`_lock_plans` before touching any plan row.
        """
        previous = plan_members.default_plan_id(session)
        if previous == row.id:
            return []
        moved = plan_members.online_members(session, unassigned=True)
        session.execute(update(AccessPlan).where(AccessPlan.id != row.id).values(is_default=False))
        row.is_default = True
        return moved

    def add(
        self,
        name: str,
        settings: Mapping[str, Setting] | None = None,
        *,
        locations: tuple[str, ...] | None = None,
        reply_attributes: tuple[tuple[str, str], ...] = (),
        default: bool = False,
    ) -> PlanRecord:
        """Create a plan; ``locations`` None: valid everywhere. ``default``: take the flag."""
        label = checked(plan_text.check_plan_name, name)
        values = check_settings(settings or {})
        locations = _where(locations)
        try:
            replies = plan_text.check_reply_attributes(reply_attributes)
        except TextError as exc:
            raise InvalidValue(str(exc)) from None
        with self._sessions() as session:
            begin_write(session)
            if default:
                _lock_plans(session)
            unique_name(session, AccessPlan, label, "plan")
            where = None if locations is None else locations_by_name(session, locations)
            now = utcnow()
            row = AccessPlan(
                name=label,
                is_default=False,
                all_locations=where is None,
                reply_attributes=encode_reply_attributes(replies),
                created_at=now,
                updated_at=now,
                **values,
            )
            ids = None if where is None else frozenset(loc.id for loc in where)
            _compile(replace(plan_to_record(row, ids), id=0))
            session.add(row)
            session.flush()
            for loc in where or ():
                session.add(PlanLocation(plan_id=row.id, location_id=loc.id))
            moved = self._take_default(session, row) if default else []
            session.flush()
            record_change(session, PLAN, row.id)
            jobs = plan_members.enqueue_all(session, moved, self.actor)
            audit(
                session,
                self.actor,
                "plan.add",
                label,
                fields=sorted(values),
                locations=None if where is None else [loc.name for loc in where],
                reply_attributes=[pair[0] for pair in replies],
                default=default,
                plan_changed_jobs=jobs,
            )
            session.commit()
            return _record(session, row)

    def get(self, name: str) -> PlanRecord:
        """One plan by name (any case)."""
        with self._sessions() as session:
            return _record(session, plan_by_name(session, name))

    def show(self, name: str) -> PlanView:
        """One plan with its location names and member count."""
        with self._sessions() as session:
            row = plan_by_name(session, name)
            return self._view(session, row, member_counts(session))

    def _view(self, session: Session, row: AccessPlan, counts: Mapping[int, int]) -> PlanView:
        record = _record(session, row)
        where = None
        if record.location_ids is not None:
            rows = session.scalars(
                select(SiteLocation)
                .where(SiteLocation.id.in_(list(record.location_ids)))
                .order_by(SiteLocation.name)
            )
            where = tuple(LocationRecord(r.id, r.name, r.timezone) for r in rows)
        return PlanView(record, counts.get(row.id, 0), where)

    def find(self) -> list[PlanView]:
        """Every plan by name, with member counts and locations."""
        with self._sessions() as session:
            counts = member_counts(session)
            rows = session.scalars(select(AccessPlan).order_by(AccessPlan.name)).all()
            return [self._view(session, row, counts) for row in rows]

    def names(self) -> dict[int, str]:
        """Plan id -> name (to show members' plans)."""
        with self._sessions() as session:
            return dict(session.execute(select(AccessPlan.id, AccessPlan.name)).all())

    def default_name(self) -> str | None:
        """The default plan's name (None only in a database emptied by hand)."""
        with self._sessions() as session:
            return session.scalar(select(AccessPlan.name).where(AccessPlan.is_default.is_(True)))

    def update(self, name: str, changes: PlanChanges) -> PlanRecord:
        """Apply ``changes``; members online whose access it changes get plan_changed jobs.

        A rename alone changes nothing a NAS sees, so it queues no job.
        """
        if changes.locations is not None and changes.all_locations:
            raise InvalidValue("give --locations or --all-locations, not both")
        _where(changes.locations)
        label = checked(plan_text.check_plan_name, changes.name) if changes.name else None
        values = check_settings(changes.settings)
        replies = None
        if changes.reply_attributes is not None:
            try:
                replies = plan_text.check_reply_attributes(changes.reply_attributes)
            except TextError as exc:
                raise InvalidValue(str(exc)) from None
        with self._sessions() as session:
            begin_write(session)
            if changes.make_default:
                _lock_plans(session)
            row = plan_by_name(session, name)
            before = _record(session, row)
            changed = [key for key, value in values.items() if getattr(row, key) != value]
            for key in changed:
                setattr(row, key, values[key])
            if label is not None and label != row.name:
                unique_name(session, AccessPlan, label, "plan", row.id)
                row.name = label
                changed.append("name")
            if replies is not None and replies != before.reply_attributes:
                row.reply_attributes = encode_reply_attributes(replies)
                changed.append("reply_attributes")
            if changes.all_locations and before.location_ids is not None:
                self._set_locations(session, row, None)
                changed.append("locations")
            elif changes.locations is not None:
                wanted = frozenset(loc.id for loc in locations_by_name(session, changes.locations))
                if wanted != before.location_ids:
                    self._set_locations(session, row, wanted)
                    changed.append("locations")
            after = _record(session, row)
            _compile(after)
            moved: list[str] = []
            if changes.make_default and not row.is_default:
                moved = self._take_default(session, row)
                changed.append("default")
            if not changed:
                return after
            row.updated_at = utcnow()
            session.flush()
            record_change(session, PLAN, row.id)
            online = set(moved)
            if set(changed) - {"name", "default"}:
                online.update(plan_members.online_members(session, [row.id]))
            jobs = plan_members.enqueue_all(session, sorted(online), self.actor)
            audit(
                session,
                self.actor,
                "plan.update",
                row.name,
                fields=sorted(changed),
                **({"previous_name": before.name} if "name" in changed else {}),
                plan_changed_jobs=jobs,
            )
            session.commit()
            return _record(session, row)

    @staticmethod
    def _set_locations(session: Session, row: AccessPlan, wanted: frozenset[int] | None) -> None:
        session.execute(delete(PlanLocation).where(PlanLocation.plan_id == row.id))
        row.all_locations = wanted is None
        for location_id in sorted(wanted or ()):
            session.add(PlanLocation(plan_id=row.id, location_id=location_id))

    def remove(self, name: str) -> PlanRecord:
        """Delete a plan nobody uses; the default plan cannot be removed."""
        with self._sessions() as session:
            begin_write(session)
            row = plan_by_name(session, name)
            record = _record(session, row)
            if row.is_default:
                raise InvalidValue(
                    f"{quote(row.name)} is the default plan: make another plan the default "
                    "first (plan update NAME --default)"
                )
            members = member_counts(session).get(row.id, 0)
            if members:
                raise InvalidValue(
                    f"plan {quote(row.name)} is used by {members} member(s): give them "
                    "another plan first (customer update EMAIL --plan NAME|default)"
                )
            session.execute(delete(PlanLocation).where(PlanLocation.plan_id == row.id))
            session.delete(row)
            record_change(session, PLAN, record.id)
            audit(session, self.actor, "plan.remove", record.name)
            session.commit()
            return record
