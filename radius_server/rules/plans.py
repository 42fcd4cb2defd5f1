"""Access plans and locations as the decision core sees them (pure: no storage, no I/O).

A plan is a named access profile (VLAN, bandwidth, timeouts, device limit, access
hours, the locations where it is valid, extra reply attributes). Admins write a
:class:`PlanDefinition`; :func:`compile_plan` turns it, once, into a :class:`Plan`
whose reply attributes are pre-encoded per NAS vendor, so the hot path only
picks a tuple of ``(type, bytes)`` pairs. Members without a plan of their own
get the default plan.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Final

from radius_server.protocol.packet import Attribute
from radius_server.rules.validity import load_zone

# What ``nas update --vendor`` accepts: how a NAS wants VLAN and bandwidth said.
VENDORS: Final = ("generic", "unifi", "mikrotik", "meraki", "aruba", "cisco", "ruckus", "openwrt")
DEFAULT_VENDOR: Final = "generic"
# The plan every database starts with (migration 0006); members without a plan get it.
DEFAULT_PLAN_NAME: Final = "default"


class PlanError(ValueError):
    """A plan that cannot be used; the message names the field or attribute, never a secret."""


@functools.cache
def _zone(name: str) -> tzinfo:
    return load_zone(name)


@dataclass(frozen=True, slots=True)
class Location:
    """A site of the space: access points (NAS) belong to one; plans may be limited to some."""

    id: int
    name: str
    # IANA time zone: a plan's access hours are read in it.
    timezone: str

    @property
    def zone(self) -> tzinfo:
        """The time zone object (loaded once per name)."""
        return _zone(self.timezone)


@dataclass(frozen=True, slots=True)
class PlanDefinition:
    """A plan as an admin writes it and the store keeps it. None: not set (NAS default)."""

    id: int
    name: str
    is_default: bool = False
    vlan: int | None = None
    # Bandwidth in kbit/s, towards the member (down) and from the member (up).
    down_kbps: int | None = None
    up_kbps: int | None = None
    # Seconds (RFC 2865 5.27, 5.28; RFC 2869 5.16).
    session_timeout: int | None = None
    idle_timeout: int | None = None
    interim_interval: int | None = None
    # Devices online at once (a member's own limit wins; None: the server's setting).
    device_limit: int | None = None
    # Weekly windows in the NAS location's time zone, e.g. "Mon-Fri 08:00-19:00";
    # None: any time (rules/hours.py parses and evaluates them).
    hours: str | None = None
    # Locations where the plan is valid; None: everywhere.
    location_ids: frozenset[int] | None = None
    # Extra reply attributes by dictionary name, as written: ("Filter-Id", "members").
    # A name may carry a tunnel tag: ("Tunnel-Private-Group-Id:1", "10").
    reply_attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled plan: what the hot path reads. Build with :func:`compile_plan`."""

    id: int
    name: str
    definition: PlanDefinition
    # Evaluated by rules/hours.py; None: any time.
    hours: object | None = None
    location_ids: frozenset[int] | None = None
    session_timeout: int | None = None
    device_limit: int | None = None
    # Acct-Interim-Interval pre-encoded, or None for the server's setting.
    interim: Attribute | None = None
    # Vendor -> the plan's reply attributes for that vendor, pre-encoded.
    replies: Mapping[str, tuple[Attribute, ...]] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        """Whether members without a plan of their own get this one."""
        return self.definition.is_default

    def reply_for(self, vendor: str) -> tuple[Attribute, ...]:
        """The plan's reply attributes for a NAS of ``vendor`` (generic if unknown)."""
        found = self.replies.get(vendor)
        return found if found is not None else self.replies.get(DEFAULT_VENDOR, ())


def compile_plan(definition: PlanDefinition) -> Plan:
    """Compile a definition for the hot path; PlanError names what cannot be used."""
    plan, problems = compile_lenient(definition)
    if problems:
        raise PlanError(problems[0])
    return plan


def compile_lenient(definition: PlanDefinition) -> tuple[Plan, list[str]]:
    """Compile what can be; return the plan and what had to be left out (one line each).

    (Placeholder: no hours, no reply attributes yet.)
    """
    return Plan(
        id=definition.id,
        name=definition.name,
        definition=definition,
        location_ids=definition.location_ids,
        session_timeout=definition.session_timeout,
        device_limit=definition.device_limit,
    ), []


class Plans:
    """Every compiled plan by id, and the default one."""

    def __init__(self) -> None:
        self._by_id: dict[int, Plan] = {}
        self.default: Plan | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    def replace_all(self, plans: Iterable[Plan]) -> None:
        """Swap in a complete new set."""
        by_id = {p.id: p for p in plans}
        self._by_id = by_id
        self.default = next((p for p in by_id.values() if p.is_default), None)

    def all(self) -> list[Plan]:
        """Every plan."""
        return list(self._by_id.values())

    def get(self, plan_id: int) -> Plan | None:
        """The plan with this id, if any."""
        return self._by_id.get(plan_id)

    def for_member(self, plan_id: int | None) -> Plan | None:
        """A member's plan: their own, else the default (None only when there is neither)."""
        if plan_id is not None:
            found = self._by_id.get(plan_id)
            if found is not None:
                return found
        return self.default
