"""``/api/v1/plans``: access plans (VLAN, bandwidth, timeouts, hours, locations, replies).

Readers see every plan; changes are the admin's. A plan is checked as a server
will compile it before it is written (store/access_plans.py); here the fields
are checked first as well, so a refusal names the field in problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from radius_server.admin.plans import NewPlan
from radius_server.rules import plan_text
from radius_server.rules.validation import TextError
from radius_server.store.access_plans import PlanChanges, PlanView, Setting
from radius_server.web.api.common import Removed
from radius_server.web.auth import Caller, admin_only, readonly
from radius_server.web.problems import INVALID_VALUE, Problem

router = APIRouter(prefix="/plans", tags=["plans"])

_NUMBER_HELP = {
    "vlan": "VLAN id (RFC 3580 tunnel attributes)",
    "down_kbps": "bandwidth towards the member, kbit/s",
    "up_kbps": "bandwidth from the member, kbit/s",
    "session_timeout": "longest session, seconds",
    "idle_timeout": "idle time before the NAS ends a session, seconds",
    "interim_interval": "accounting interim interval, seconds",
    "device_limit": "devices online at once (0 = unlimited)",
}
_HOURS_HELP = (
    "weekly access windows in the NAS location's time zone, "
    "e.g. 'Mon-Fri 08:00-19:00; Sat 10:00-14:00'; null: any time"
)


def _number(name: str) -> Any:
    low, high = plan_text.NUMBER_FIELDS[name]
    return Field(default=None, ge=low, le=high, description=f"{_NUMBER_HELP[name]}; null: not set")


class ReplyAttribute(BaseModel):
    """An extra reply attribute by dictionary name (checked against the dictionaries)."""

    name: str = Field(description="e.g. Filter-Id, or Tunnel-Private-Group-Id:1 with a tag")
    value: str


class PlanOut(BaseModel):
    """A plan, where it is valid and how many members have it."""

    id: int
    name: str
    default: bool = Field(description="members without a plan of their own get this one")
    members: int
    vlan: int | None
    down_kbps: int | None
    up_kbps: int | None
    session_timeout: int | None
    idle_timeout: int | None
    interim_interval: int | None
    device_limit: int | None
    hours: str | None = Field(description="canonical access hours; null: any time")
    locations: list[str] | None = Field(description="where it is valid; null: everywhere")
    reply_attributes: list[ReplyAttribute]
    created_at: datetime | None
    updated_at: datetime | None


class _PlanFields(BaseModel):
    """The fields a create and an update share, each checked as the command line does."""

    vlan: int | None = _number("vlan")
    down_kbps: int | None = _number("down_kbps")
    up_kbps: int | None = _number("up_kbps")
    session_timeout: int | None = _number("session_timeout")
    idle_timeout: int | None = _number("idle_timeout")
    interim_interval: int | None = _number("interim_interval")
    device_limit: int | None = _number("device_limit")
    hours: str | None = Field(default=None, max_length=plan_text.MAX_HOURS, description=_HOURS_HELP)
    reply_attributes: list[ReplyAttribute] | None = Field(
        default=None, max_length=plan_text.MAX_REPLY_ATTRIBUTES
    )

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        return None if value is None else _checked(plan_text.check_hours, value)

    @field_validator("reply_attributes")
    @classmethod
    def _replies(cls, value: list[ReplyAttribute] | None) -> list[ReplyAttribute] | None:
        for pair in value or ():
            _checked(plan_text.check_reply_attribute, pair.name, pair.value)
        return value

    def settings(self) -> dict[str, Setting]:
        """The optional fields the request gave (None: clear)."""
        given = self.model_fields_set
        return {f: getattr(self, f) for f in plan_text.OPTIONAL_FIELDS if f in given}

    def replies(self) -> tuple[tuple[str, str], ...] | None:
        """The reply attributes given, as pairs; None when left out."""
        if self.reply_attributes is None:
            return None
        return tuple((pair.name.strip(), pair.value) for pair in self.reply_attributes)


def _checked(check: Callable[..., Any], *values: str) -> Any:
    # plan_text's refusal (TextError) as pydantic's, so the problem names the field.
    try:
        return check(*values)
    except TextError as exc:
        raise ValueError(str(exc)) from None


class NewPlanIn(_PlanFields):
    """A plan to create (``radius-server plan add``)."""

    name: str = Field(max_length=plan_text.MAX_PLAN_NAME)
    locations: list[str] | None = Field(
        default=None, description="valid only at these locations; null or left out: everywhere"
    )
    default: bool = Field(default=False, description="make it the default plan")


class PlanPatch(_PlanFields):
    """Changes to a plan; left out stays, ``null`` clears a number or the hours.

    ``locations`` null: valid everywhere; ``reply_attributes`` replaces the list.
    """

    name: str | None = Field(default=None, max_length=plan_text.MAX_PLAN_NAME, description="rename")
    locations: list[str] | None = None
    default: bool | None = Field(default=None, description="true: make it the default plan")


def _out(view: PlanView) -> PlanOut:
    data = view.to_dict()
    data["reply_attributes"] = [
        ReplyAttribute(name=name, value=value) for name, value in view.record.reply_attributes
    ]
    return PlanOut(**data)


@router.get("", response_model=list[PlanOut])
def list_plans(caller: Annotated[Caller, Depends(readonly)]) -> list[PlanOut]:
    """Every plan with its member count."""
    return [_out(v) for v in caller.admin.plans.find()]


@router.get("/{name}", response_model=PlanOut)
def show_plan(name: str, caller: Annotated[Caller, Depends(readonly)]) -> PlanOut:
    """One plan (its name in any case)."""
    return _out(caller.admin.plans.show(name))


@router.post("", response_model=PlanOut, status_code=201)
def create_plan(body: NewPlanIn, caller: Annotated[Caller, Depends(admin_only)]) -> PlanOut:
    """Create a plan, checked as every server will compile it."""
    view = caller.admin.plans.add(
        NewPlan(
            body.name,
            body.settings(),
            locations=None if body.locations is None else tuple(body.locations),
            reply_attributes=body.replies() or (),
            default=body.default,
        )
    )
    return _out(view)


@router.patch("/{name}", response_model=PlanOut)
def update_plan(
    name: str, body: PlanPatch, caller: Annotated[Caller, Depends(admin_only)]
) -> PlanOut:
    """Change a plan; members online whose access changes get it at once (CoA or disconnect)."""
    if body.default is False:
        raise Problem(INVALID_VALUE, "make another plan the default instead", field="default")
    everywhere = "locations" in body.model_fields_set and body.locations is None
    changes = PlanChanges(
        name=body.name,
        settings=body.settings(),
        locations=None if body.locations is None else tuple(body.locations),
        all_locations=everywhere,
        reply_attributes=body.replies(),
        make_default=bool(body.default),
    )
    return _out(caller.admin.plans.update(name, changes))


@router.delete("/{name}", response_model=Removed)
def remove_plan(name: str, caller: Annotated[Caller, Depends(admin_only)]) -> Removed:
    """Remove a plan no member uses (never the default plan)."""
    return Removed(removed=caller.admin.plans.remove(name).name)
