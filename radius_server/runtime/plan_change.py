"""What a ``plan_changed`` job sends an online member's session: the new authorization.

A member whose plan was edited or reassigned keeps their sessions where the NAS
takes a CoA-Request (RFC 5176 3.3) with the attributes an Access-Accept would now
carry (``rules.policy.plan_reply``); where it does not, or the new plan no longer
admits the session at all (another location, outside its hours), the session gets
a Disconnect-Request and the member signs in again under the new plan
(docs/architecture.md, "Live plan changes"). This module decides which, and builds
the attributes; the disconnect runner (runtime/disconnector.py) sends them.

The member, their plan, the NAS records and the locations are read from the
database for each job, never from this server's directory: the change (a plan, a
member's plan, a NAS's vendor or location, a location's time zone) and its job
commit together, and the runner may claim the job before the change feed has
brought the change here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.protocol.packet import Attribute
from radius_server.rules import policy
from radius_server.rules.directory import Client, Member
from radius_server.rules.plans import Location, Plan, compile_lenient
from radius_server.runtime.sync import client_from_record, location_from_record, member_from_record
from radius_server.store.clients import to_record as client_record
from radius_server.store.customers import to_record as customer_record
from radius_server.store.models import Customer, RadiusClient
from radius_server.store.plans import current_plan, load_locations

# Why a session of a plan_changed job gets a Disconnect-Request instead of a CoA-Request
# (the ``fallback`` field of its disconnect_* log lines). A location or hours refusal
# is named by its reason: wrong_location, outside_hours.
COA_OFF: Final = "coa_off"  # the NAS is not marked as taking CoA-Requests (nas --no-coa)
NO_PLAN: Final = "no_plan"  # the member is gone, or neither their plan nor a default exists
NOT_ALLOWED: Final = "not_allowed"  # the member may not be on at all now (status, validity)
NO_ATTRIBUTES: Final = "no_attributes"  # the plan sets nothing of its own (sets_anything)


@dataclass(frozen=True, slots=True)
class MemberPlan:
    """A member as the database has them now, their plan (None: no plan at all), and
    the NAS records (by name) and locations (by id) as they are now."""

    member: Member
    plan: Plan | None
    clients: Mapping[str, Client] = field(default_factory=dict)
    locations: Mapping[int, Location] = field(default_factory=dict)


PlanLoader = Callable[[str], "MemberPlan | None"]


@dataclass(frozen=True, slots=True)
class Change:
    """For one session: the CoA-Request's new authorization, or why it gets a disconnect."""

    attributes: tuple[Attribute, ...] = ()
    disconnect_because: str | None = None


def plan_loader(sessions: sessionmaker[Session]) -> PlanLoader:
    """A function giving a member and their current plan (compiled), from the database.

    One short transaction: the member, their plan, every NAS record and location
    (a space has tens of each).
    """

    def load(email: str) -> MemberPlan | None:
        with sessions() as session:
            row = session.scalars(select(Customer).where(Customer.email == email)).first()
            if row is None:
                return None
            member = member_from_record(customer_record(row))
            record = current_plan(session, email)
            clients = {
                r.name: client_from_record(client_record(r))
                for r in session.scalars(select(RadiusClient))
            }
            locations = {r.id: location_from_record(r) for r in load_locations(session)}
        plan = None
        if record is not None:
            # Lenient: the plan was validated when saved; an attribute that no longer
            # encodes is left out here as it is when a server loads the plan.
            plan, _problems = compile_lenient(record.definition())
        return MemberPlan(member, plan, clients, locations)

    return load


def change_for(
    found: MemberPlan | None,
    client: Client,
    location: Location | None,
    now: float,
    rules: policy.SessionRules,
) -> Change:
    """What a session of a member (with their plan now), online at ``client``, gets.

    Decided in this order: no member or plan; the plan refusing the NAS's location
    or the hour (``policy.plan_check``, the judge's own rule); the member not
    allowed on at all; a NAS without the coa flag; a plan with nothing of its own
    for the NAS's vendor (a CoA-Request can set attributes, not take the old
    plan's away). Otherwise the CoA-Request carries what an Accept would now,
    without its Class (the session keeps the one it signed in with).
    """
    if found is None or found.plan is None:
        return Change(disconnect_because=NO_PLAN)
    plan = found.plan
    refusal, _ends = policy.plan_check(plan, client, location, now, rules.zone)
    if refusal is not None:
        return Change(disconnect_because=str(refusal))
    attributes = policy.plan_reply(plan, client, found.member, now, rules, location)
    if attributes is None:
        return Change(disconnect_because=NOT_ALLOWED)
    if not client.coa:
        return Change(disconnect_because=COA_OFF)
    if not sets_anything(plan, client.vendor):
        return Change(disconnect_because=NO_ATTRIBUTES)
    return Change(attributes=attributes)


def sets_anything(plan: Plan, vendor: str) -> bool:
    """Whether ``plan`` gives a NAS of ``vendor`` anything of its own.

    Its reply attributes, a Session-Timeout (a maximum or hours with an end) or an
    interim interval; not the server's interim or the member's own validity end,
    which every plan's Accept carries alike.
    """
    return bool(plan.reply_for(vendor)) or plan.timed or plan.interim is not None
