"""Location repository: the sites of the space, with the time zone their hours are read in.

NAS stand at a location (``nas update NAME --location``) and plans may be valid
at some locations only. Every method is one transaction with its change-feed row
and audit event, or a StoreError having written nothing. Names are unique and
found ignoring case. A location in use (by a NAS or a plan) cannot be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import plan_text
from radius_server.rules.validation import quote
from radius_server.rules.validity import load_zone
from radius_server.store import plan_members
from radius_server.store.access_plans import locations_by_name, unique_name
from radius_server.store.database import begin_write
from radius_server.store.errors import InvalidValue, checked
from radius_server.store.journal import LOCATION, audit, record_change, utcnow
from radius_server.store.models import AccessPlan, PlanLocation, RadiusClient, SiteLocation
from radius_server.store.plans import location_to_record
from radius_server.store.records import LocationRecord


@dataclass(frozen=True, slots=True)
class LocationView:
    """A location and what uses it: NAS names and plan names (limited to it)."""

    record: LocationRecord
    clients: tuple[str, ...]
    plans: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {**self.record.to_dict(), "nas": list(self.clients), "plans": list(self.plans)}


def check_timezone(name: str) -> str:
    """An IANA time zone name that this system knows; InvalidValue otherwise."""
    value = name.strip()
    try:
        load_zone(value)
    except ValueError as exc:
        raise InvalidValue(f"timezone: {exc}") from None
    return value


def _users(session: Session, location_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of the NAS at a location and of the plans limited to it."""
    clients = session.scalars(
        select(RadiusClient.name)
        .where(RadiusClient.location_id == location_id)
        .order_by(RadiusClient.name)
    )
    plans = session.scalars(
        select(AccessPlan.name)
        .join(PlanLocation, PlanLocation.plan_id == AccessPlan.id)
        .where(PlanLocation.location_id == location_id)
        .order_by(AccessPlan.name)
    )
    return tuple(clients), tuple(plans)


# How many names an error message lists before "and N more".
_LISTED = 5


def _listing(names: tuple[str, ...]) -> str:
    """Names for a one-line message: the first few, then how many more."""
    shown = ", ".join(names[:_LISTED])
    rest = len(names) - _LISTED
    return f"{shown} and {rest} more" if rest > 0 else shown


class LocationRepository:
    """Location operations on top of a session factory."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "system") -> None:
        self._sessions = sessions
        self.actor = actor

    def add(self, name: str, timezone: str = "UTC") -> LocationRecord:
        """Create a location whose plans' hours are read in ``timezone``."""
        label = checked(plan_text.check_location_name, name)
        zone = check_timezone(timezone)
        with self._sessions() as session:
            begin_write(session)
            unique_name(session, SiteLocation, label, "location")
            now = utcnow()
            row = SiteLocation(name=label, timezone=zone, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            record_change(session, LOCATION, row.id)
            audit(session, self.actor, "location.add", label, timezone=zone)
            session.commit()
            return location_to_record(row)

    def get(self, name: str) -> LocationRecord:
        """One location by name (any case)."""
        with self._sessions() as session:
            return location_to_record(locations_by_name(session, (name,))[0])

    def show(self, name: str) -> LocationView:
        """One location and what uses it."""
        with self._sessions() as session:
            row = locations_by_name(session, (name,))[0]
            return LocationView(location_to_record(row), *_users(session, row.id))

    def find(self) -> list[LocationView]:
        """Every location by name, with what uses it."""
        with self._sessions() as session:
            rows = session.scalars(select(SiteLocation).order_by(SiteLocation.name)).all()
            return [LocationView(location_to_record(r), *_users(session, r.id)) for r in rows]

    def names(self) -> dict[int, str]:
        """Location id -> name (to show where a NAS stands)."""
        with self._sessions() as session:
            return dict(session.execute(select(SiteLocation.id, SiteLocation.name)).all())

    def update(
        self, name: str, *, new_name: str | None = None, timezone: str | None = None
    ) -> LocationRecord:
        """Rename a location or change its time zone.

        A new time zone moves the hours of every plan that has hours at this
        location: members online at its NAS whose plan has hours get a
        plan_changed job (store/plan_members.py).
        """
        label = checked(plan_text.check_location_name, new_name) if new_name else None
        zone = check_timezone(timezone) if timezone is not None else None
        with self._sessions() as session:
            begin_write(session)
            row = locations_by_name(session, (name,))[0]
            previous = row.name
            changed: list[str] = []
            if label is not None and label != row.name:
                unique_name(session, SiteLocation, label, "location", row.id)
                row.name = label
                changed.append("name")
            jobs = 0
            if zone is not None and zone != row.timezone:
                row.timezone = zone
                changed.append("timezone")
                jobs = plan_members.enqueue_all(
                    session, self._online_with_hours(session, row.id), self.actor
                )
            if changed:
                row.updated_at = utcnow()
                session.flush()
                record_change(session, LOCATION, row.id)
                audit(
                    session,
                    self.actor,
                    "location.update",
                    row.name,
                    fields=changed,
                    timezone=row.timezone,
                    **({"previous_name": previous} if "name" in changed else {}),
                    plan_changed_jobs=jobs,
                )
                session.commit()
            return location_to_record(row)

    @staticmethod
    def _online_with_hours(session: Session, location_id: int) -> list[str]:
        """Members online at this location's NAS whose plan has access hours."""
        with_hours = list(
            session.scalars(select(AccessPlan.id).where(AccessPlan.hours.isnot(None)))
        )
        if not with_hours:
            return []
        clients, _ = _users(session, location_id)
        return plan_members.online_members(session, with_hours, clients=clients)

    def remove(self, name: str) -> LocationRecord:
        """Delete a location nothing uses; otherwise InvalidValue names the NAS and plans."""
        with self._sessions() as session:
            begin_write(session)
            row = locations_by_name(session, (name,))[0]
            clients, plans = _users(session, row.id)
            if clients or plans:
                users = [f"NAS {_listing(clients)}"] if clients else []
                users += [f"plan(s) {_listing(plans)}"] if plans else []
                raise InvalidValue(
                    f"location {quote(row.name)} is used by {' and '.join(users)}: "
                    "move them first (nas update NAME --location, plan update NAME --locations)"
                )
            record = location_to_record(row)
            session.delete(row)
            record_change(session, LOCATION, record.id)
            audit(session, self.actor, "location.remove", record.name)
            session.commit()
            return record
