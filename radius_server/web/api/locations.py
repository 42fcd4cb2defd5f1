"""``/api/v1/locations``: the sites of the space and their time zones (plans' hours)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from radius_server.rules import plan_text
from radius_server.store.locations import LocationView
from radius_server.web.api.common import Removed
from radius_server.web.auth import Caller, admin_only, readonly

router = APIRouter(prefix="/locations", tags=["locations"])


class LocationOut(BaseModel):
    """A location and what uses it."""

    id: int
    name: str
    timezone: str = Field(description="IANA time zone plans' hours are read in")
    created_at: datetime | None
    updated_at: datetime | None
    nas: list[str] = Field(description="names of the RADIUS clients standing there")
    plans: list[str] = Field(description="names of the plans limited to it")


class NewLocationIn(BaseModel):
    """A location to create."""

    name: str = Field(max_length=plan_text.MAX_LOCATION_NAME)
    timezone: str | None = Field(
        default=None, max_length=64, description="e.g. Europe/Madrid; default: setting timezone"
    )


class LocationPatch(BaseModel):
    """Rename a location or change its time zone; left out stays."""

    name: str | None = Field(default=None, max_length=plan_text.MAX_LOCATION_NAME)
    timezone: str | None = Field(default=None, max_length=64)


def _out(view: LocationView) -> LocationOut:
    return LocationOut(**view.to_dict())


@router.get("", response_model=list[LocationOut])
def list_locations(caller: Annotated[Caller, Depends(readonly)]) -> list[LocationOut]:
    """Every location with the NAS and plans using it."""
    return [_out(v) for v in caller.admin.locations.find()]


@router.get("/{name}", response_model=LocationOut)
def show_location(name: str, caller: Annotated[Caller, Depends(readonly)]) -> LocationOut:
    """One location (its name in any case)."""
    return _out(caller.admin.locations.show(name))


@router.post("", response_model=LocationOut, status_code=201)
def create_location(
    body: NewLocationIn, caller: Annotated[Caller, Depends(admin_only)]
) -> LocationOut:
    """Create a location; its time zone defaults to the space's."""
    record = caller.admin.locations.add(body.name, body.timezone)
    return _out(caller.admin.locations.show(record.name))


@router.patch("/{name}", response_model=LocationOut)
def update_location(
    name: str, body: LocationPatch, caller: Annotated[Caller, Depends(admin_only)]
) -> LocationOut:
    """Rename a location or change its time zone."""
    record = caller.admin.locations.update(name, new_name=body.name, timezone=body.timezone)
    return _out(caller.admin.locations.show(record.name))


@router.delete("/{name}", response_model=Removed)
def remove_location(name: str, caller: Annotated[Caller, Depends(admin_only)]) -> Removed:
    """Remove a location no NAS or plan uses."""
    return Removed(removed=caller.admin.locations.remove(name).name)
