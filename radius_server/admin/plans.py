"""Access plans and locations: every admin operation once, for the CLI and any later caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.access_plans import PlanChanges, PlanRepository, PlanView, Setting
from radius_server.store.locations import LocationRepository, LocationView
from radius_server.store.records import LocationRecord, PlanRecord


@dataclass(frozen=True, slots=True)
class NewPlan:
    """What ``add`` needs. ``settings``: optional fields (rules/plan_text.OPTIONAL_FIELDS).

    ``locations`` None: valid everywhere. ``default``: members without a plan get it.
    """

    name: str
    settings: Mapping[str, Setting] = field(default_factory=dict)
    locations: tuple[str, ...] | None = None
    reply_attributes: tuple[tuple[str, str], ...] = ()
    default: bool = False


class PlanAdmin:
    """Plan operations acting as ``actor``; each is one transaction with its audit row."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._repo = PlanRepository(sessions, actor=actor)

    def add(self, new: NewPlan) -> PlanView:
        """Create a plan (checked as a server will compile it)."""
        record = self._repo.add(
            new.name,
            new.settings,
            locations=new.locations,
            reply_attributes=new.reply_attributes,
            default=new.default,
        )
        return self._repo.show(record.name)

    def show(self, name: str) -> PlanView:
        """One plan with its locations and member count (NotFound names it)."""
        return self._repo.show(name)

    def find(self) -> list[PlanView]:
        """Every plan with member counts."""
        return self._repo.find()

    def names(self) -> dict[int, str]:
        """Plan id -> name."""
        return self._repo.names()

    def default_name(self) -> str | None:
        """The default plan's name."""
        return self._repo.default_name()

    def update(self, name: str, changes: PlanChanges) -> PlanView:
        """Change a plan; members online whose access changes get plan_changed jobs."""
        record = self._repo.update(name, changes)
        return self._repo.show(record.name)

    def remove(self, name: str) -> PlanRecord:
        """Remove a plan nobody uses (never the default plan)."""
        return self._repo.remove(name)


class LocationAdmin:
    """Location operations acting as ``actor``; ``timezone`` is the default for new ones."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, timezone: str) -> None:
        self._repo = LocationRepository(sessions, actor=actor)
        self.timezone = timezone

    def add(self, name: str, timezone: str | None = None) -> LocationRecord:
        """Create a location; its time zone defaults to the space's (setting timezone)."""
        return self._repo.add(name, timezone or self.timezone)

    def get(self, name: str) -> LocationRecord:
        """One location (NotFound names it)."""
        return self._repo.get(name)

    def show(self, name: str) -> LocationView:
        """One location and the NAS and plans using it."""
        return self._repo.show(name)

    def find(self) -> list[LocationView]:
        """Every location."""
        return self._repo.find()

    def names(self) -> dict[int, str]:
        """Location id -> name."""
        return self._repo.names()

    def update(
        self, name: str, *, new_name: str | None = None, timezone: str | None = None
    ) -> LocationRecord:
        """Rename a location or change its time zone."""
        return self._repo.update(name, new_name=new_name, timezone=timezone)

    def remove(self, name: str) -> LocationRecord:
        """Remove a location no NAS or plan uses."""
        return self._repo.remove(name)
