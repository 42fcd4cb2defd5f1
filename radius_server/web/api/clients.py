"""``/api/v1/clients``: RADIUS clients (access points, controllers) and their secrets.

Reading is for every role, never with the secret unless an admin asks; every
change is the admin's. The shared secret appears in the answer to a create or a
set-secret (the admin must copy it into the access point) and on an admin's
``include_secret``; the dynamic authorization secret never (records.ClientRecord).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from radius_server.admin.clients import NO_LOCATION, ClientResult, CoaChange, NewClient, PlanSetup
from radius_server.rules.plans import VENDORS
from radius_server.store.records import ClientRecord
from radius_server.web.api.common import Removed, no_store
from radius_server.web.auth import Caller, admin_only, readonly
from radius_server.web.problems import FORBIDDEN, Problem

router = APIRouter(prefix="/clients", tags=["clients"])

_VENDOR_HELP = f"how the NAS wants VLAN and bandwidth said: {', '.join(VENDORS)}"


class ClientOut(BaseModel):
    """A RADIUS client as the API shows it; ``secret`` only where the route says so."""

    id: int
    name: str
    address: str = Field(description="IP address or CIDR network its packets come from")
    require_message_authenticator: bool = Field(
        description="Access-Requests without Message-Authenticator are refused (BlastRADIUS)"
    )
    coa_port: int | None = Field(description="RFC 5176 port for Disconnect-Requests; null: none")
    coa_secret: str = Field(
        description="which secret signs Disconnect-Requests ('RADIUS secret' or 'separate'), "
        "never its value"
    )
    vendor: str = Field(description=_VENDOR_HELP)
    location_id: int | None
    location: str | None = Field(description="the location's name; null: none")
    coa: bool = Field(description="takes CoA-Requests: plan changes update sessions in place")
    created_at: datetime | None
    updated_at: datetime | None
    secret: str | None = Field(default=None, description="the shared secret, where asked")


class ClientChanged(ClientOut):
    """A client after a change, and what the admin should know (weak secret, no MA...)."""

    warnings: list[str] = Field(default_factory=list)


class NewClientIn(BaseModel):
    """A RADIUS client to allow (``radius-server nas add``)."""

    name: str = Field(max_length=64, description="unique name")
    address: str = Field(max_length=64, description="IP address or CIDR network")
    secret: str | None = Field(
        default=None, repr=False, description="shared secret; omitted: a strong generated one"
    )
    require_message_authenticator: bool = True
    coa_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="UDP port for Disconnect-Requests (RFC 5176; often 3799)",
    )
    coa_secret: str | None = Field(
        default=None, repr=False, description="their secret; omitted: the RADIUS secret"
    )
    vendor: str = Field(default="generic", description=_VENDOR_HELP)
    location: str | None = Field(default=None, description="a location's name (see /locations)")
    coa: bool = Field(default=False, description="it takes CoA-Requests")


class ClientPatch(BaseModel):
    """Changes to a client; a field left out stays as it is, ``null`` clears where allowed."""

    address: str | None = Field(default=None, max_length=64)
    require_message_authenticator: bool | None = None
    coa_port: int | None = Field(
        default=None, ge=1, le=65535, description="null: no Disconnect-Requests"
    )
    coa_secret: str | None = Field(
        default=None, repr=False, description="null: sign them with the RADIUS secret again"
    )
    vendor: str | None = Field(default=None, description=_VENDOR_HELP)
    location: str | None = Field(default=None, description="a location's name; null: none")
    coa: bool | None = None


class SecretIn(BaseModel):
    """A new shared secret; omitted: a strong generated one."""

    secret: str | None = Field(default=None, repr=False)


def _out(caller: Caller, record: ClientRecord, *, with_secret: bool) -> dict[str, Any]:
    data = record.to_dict(include_secret=with_secret)
    names = caller.admin.locations.names()
    data["location"] = names.get(record.location_id) if record.location_id is not None else None
    return data


def _changed(caller: Caller, result: ClientResult, *, with_secret: bool) -> ClientChanged:
    data = _out(caller, result.record, with_secret=with_secret)
    return ClientChanged(**data, warnings=list(result.warnings))


@router.get("", response_model=list[ClientOut])
def list_clients(caller: Annotated[Caller, Depends(readonly)]) -> list[ClientOut]:
    """Every RADIUS client, by name; never a secret."""
    return [ClientOut(**_out(caller, r, with_secret=False)) for r in caller.admin.clients.find()]


@router.get("/{name}", response_model=ClientOut)
def show_client(
    name: str,
    caller: Annotated[Caller, Depends(readonly)],
    response: Response,
    include_secret: Annotated[
        bool, Query(description="also the shared secret (admin tokens only)")
    ] = False,
) -> ClientOut:
    """One client; its shared secret only when an admin asks."""
    if include_secret and not caller.sees_secrets:
        raise Problem(FORBIDDEN, "only an admin token sees shared secrets", field="include_secret")
    record = caller.admin.clients.get(name)
    if include_secret:
        no_store(response)
    return ClientOut(**_out(caller, record, with_secret=include_secret))


@router.post("", response_model=ClientChanged, status_code=201)
def create_client(
    body: NewClientIn, caller: Annotated[Caller, Depends(admin_only)], response: Response
) -> ClientChanged:
    """Allow an access point; the answer carries the secret, once: copy it into the device."""
    result = caller.admin.clients.add(
        NewClient(
            body.name,
            body.address,
            body.secret,
            require_message_authenticator=body.require_message_authenticator,
            coa_port=body.coa_port,
            coa_secret=body.coa_secret,
            vendor=body.vendor.lower(),
            location=body.location,
            coa=body.coa,
        )
    )
    no_store(response)
    return _changed(caller, result, with_secret=True)


@router.patch("/{name}", response_model=ClientChanged)
def update_client(
    name: str, body: ClientPatch, caller: Annotated[Caller, Depends(admin_only)]
) -> ClientChanged:
    """Change the address, the Message-Authenticator policy, vendor, location or CoA."""
    given = body.model_fields_set
    coa = CoaChange(
        port=body.coa_port,
        clear_port="coa_port" in given and body.coa_port is None,
        secret=body.coa_secret,
        clear_secret="coa_secret" in given and body.coa_secret is None,
    )
    # null: no location, which the admin layer spells NO_LOCATION (as the CLI does).
    location = NO_LOCATION if "location" in given and body.location is None else body.location
    result = caller.admin.clients.update(
        name,
        address=body.address,
        require_message_authenticator=body.require_message_authenticator,
        coa=coa,
        plans=PlanSetup(
            vendor=body.vendor.lower() if body.vendor is not None else None,
            location=location,
            coa=body.coa,
        ),
    )
    return _changed(caller, result, with_secret=False)


@router.post("/{name}/secret", response_model=ClientChanged)
def set_client_secret(
    name: str,
    caller: Annotated[Caller, Depends(admin_only)],
    response: Response,
    body: SecretIn | None = None,
) -> ClientChanged:
    """A new shared secret (generated unless given); the answer carries it."""
    result = caller.admin.clients.set_secret(name, body.secret if body else None)
    no_store(response)
    return _changed(caller, result, with_secret=True)


@router.delete("/{name}", response_model=Removed)
def remove_client(name: str, caller: Annotated[Caller, Depends(admin_only)]) -> Removed:
    """Remove a client; its packets are dropped on every server."""
    return Removed(removed=caller.admin.clients.remove(name).name)
