"""``/api/v1/lockouts`` and ``/api/v1/devices``: guessing protection as every server sees it.

State is replayed from the shared event log (admin/guessing.py); a clear or a
device change is an event every server applies within a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from radius_server.web.auth import Caller, operator, readonly

router = APIRouter(tags=["lockouts"])


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class LockOut(BaseModel):
    """One lock in force."""

    scope: str = Field(description="user, device, station, location or global")
    key: str = Field(description="who or what is locked (an email, a MAC, a location...)")
    until: datetime


class UserFailuresOut(BaseModel):
    """A member's recent failures from unknown devices, against their budget."""

    user: str
    failures: int
    budget: int


class LockoutsOut(BaseModel):
    """Locks in force, and members with failures (most first)."""

    locks: list[LockOut]
    users_with_failures: list[UserFailuresOut]


class Cleared(BaseModel):
    """Whose locks were lifted (the PIN is unchanged)."""

    cleared: str


class DeviceOut(BaseModel):
    """A device known for a member: judged by its own budget, so it gets on during a lockdown."""

    email: str
    device: str = Field(description="MAC address")
    last_seen: datetime
    until: datetime = Field(description="known until (known_device_days after last sign-in)")


class DeviceIn(BaseModel):
    """A device to make known for a member."""

    email: str = Field(max_length=254)
    device: str = Field(max_length=40, description="MAC address, any notation")


class DeviceChange(BaseModel):
    """A member's device that was added or forgotten."""

    email: str
    device: str


@router.get("/lockouts", response_model=LockoutsOut)
def list_lockouts(caller: Annotated[Caller, Depends(readonly)]) -> LockoutsOut:
    """Current locks and the members with failures in their window."""
    report = caller.admin.guessing.lockouts()
    return LockoutsOut(
        locks=[LockOut(scope=k.scope, key=k.key, until=_instant(k.until)) for k in report.locks],
        users_with_failures=[
            UserFailuresOut(user=f.user, failures=f.failures, budget=f.budget)
            for f in report.users_with_failures
        ],
    )


@router.delete("/lockouts/{email}", response_model=Cleared)
def clear_lockout(email: str, caller: Annotated[Caller, Depends(operator)]) -> Cleared:
    """Lift the locks on a member; every server drops their failure counts within a second."""
    return Cleared(cleared=caller.admin.guessing.clear(email))


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    caller: Annotated[Caller, Depends(readonly)],
    email: Annotated[str | None, Query(max_length=254, description="one member's")] = None,
) -> list[DeviceOut]:
    """Known devices, most recently seen first per member."""
    return [
        DeviceOut(
            email=d.email,
            device=d.device,
            last_seen=_instant(d.last_seen),
            until=_instant(d.until),
        )
        for d in caller.admin.guessing.devices(email)
    ]


@router.post("/devices", response_model=DeviceChange, status_code=201)
def add_device(body: DeviceIn, caller: Annotated[Caller, Depends(operator)]) -> DeviceChange:
    """Make a device known for a member, on every server within a second."""
    user, device = caller.admin.guessing.add_device(body.email, body.device)
    return DeviceChange(email=user, device=device)


@router.delete("/devices/{email}/{device}", response_model=DeviceChange)
def remove_device(
    email: str, device: str, caller: Annotated[Caller, Depends(operator)]
) -> DeviceChange:
    """Forget a known device of a member."""
    user, mac = caller.admin.guessing.remove_device(email, device)
    return DeviceChange(email=user, device=mac)
