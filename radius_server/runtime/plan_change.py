"""What a ``plan_changed`` job sends an online member's session: the new authorization.

A member whose plan was edited or reassigned keeps their sessions where the NAS
takes a CoA-Request (RFC 5176 3.3) with the attributes an Access-Accept would now
carry; where it does not, or the new plan no longer admits the session at all
(another location, outside its hours), the session gets a Disconnect-Request and
the member signs in again under the new plan (docs/architecture.md, "Live plan
changes"). This module decides which, and builds the attributes; the disconnect
runner (runtime/disconnector.py) sends them.

The member's plan is read from the database for each job, never from this
server's directory: the change and its job commit together, and the runner may
claim the job before the change feed has brought the change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from radius_server.protocol import codes as c
from radius_server.protocol.attributes import integer_attribute
from radius_server.protocol.packet import Attribute
from radius_server.rules.directory import Client
from radius_server.rules.plans import Plan, compile_lenient
from radius_server.store.plans import current_plan

# Why a session of a plan_changed job gets a Disconnect-Request instead of a CoA-Request
# (the ``fallback`` field of its disconnect_* log lines).
COA_OFF: Final = "coa_off"  # the NAS is not marked as taking CoA-Requests (nas --no-coa)
NO_PLAN: Final = "no_plan"  # neither the member's plan nor a default one exists
NO_ATTRIBUTES: Final = "no_attributes"  # the plan sets nothing a CoA-Request could carry
WRONG_LOCATION: Final = "wrong_location"  # the plan is not valid at the NAS's location

PlanLoader = Callable[[str], "Plan | None"]


@dataclass(frozen=True, slots=True)
class Change:
    """For one session: the CoA-Request's new authorization, or why it gets a disconnect."""

    attributes: tuple[Attribute, ...] = ()
    disconnect_because: str | None = None


def plan_loader(sessions: sessionmaker[Session]) -> PlanLoader:
    """A function giving a member's current plan (compiled), read from the database."""

    def load(email: str) -> Plan | None:
        with sessions() as session:
            record = current_plan(session, email)
        if record is None:
            return None
        # Lenient: the plan was validated when saved; an attribute that no longer
        # encodes is left out here as it is when a server loads the plan.
        plan, _problems = compile_lenient(record.definition())
        return plan

    return load


def authorization(plan: Plan, client: Client) -> tuple[Attribute, ...]:
    """The attributes of ``plan`` a session on ``client`` should have from now on.

    The plan's reply attributes for the NAS's vendor (VLAN, bandwidth, extra
    attributes), then Session-Timeout and Acct-Interim-Interval when the plan
    sets them and its replies do not already.
    """
    replies = tuple(plan.reply_for(client.vendor))
    present = {attr_type for attr_type, _ in replies}
    extra: list[Attribute] = []
    if plan.session_timeout is not None and c.SESSION_TIMEOUT not in present:
        extra.append(integer_attribute(c.SESSION_TIMEOUT, plan.session_timeout))
    if plan.interim is not None and c.ACCT_INTERIM_INTERVAL not in present:
        extra.append(plan.interim)
    return (*replies, *extra)


def change_for(plan: Plan | None, client: Client) -> Change:
    """What a session of a member now on ``plan``, online at ``client``, gets.

    Decided in this order: no plan at all, a NAS without the coa flag, a plan
    not valid at the NAS's location (a NAS with no location counts as outside a
    plan limited to some), then a plan with nothing to send (a CoA-Request can
    set attributes, not take the old plan's away).
    """
    if plan is None:
        return Change(disconnect_because=NO_PLAN)
    if not client.coa:
        return Change(disconnect_because=COA_OFF)
    if plan.location_ids is not None and client.location_id not in plan.location_ids:
        return Change(disconnect_because=WRONG_LOCATION)
    attributes = authorization(plan, client)
    if not attributes:
        return Change(disconnect_because=NO_ATTRIBUTES)
    return Change(attributes=attributes)
