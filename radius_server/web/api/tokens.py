"""``/api/v1/tokens``: the API's bearer tokens (admin only); a token's value is shown once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from radius_server.rules.roles import Role
from radius_server.store.journal import utcnow
from radius_server.store.tokens import TokenRecord
from radius_server.web.api.common import no_store
from radius_server.web.auth import Caller, admin_only

router = APIRouter(prefix="/tokens", tags=["tokens"])

RoleName = Literal["readonly", "operator", "admin"]


class TokenOut(BaseModel):
    """A token as listed: never its value, only its first characters."""

    id: int
    name: str = Field(description="who uses it; the actor in the audit trail is token:NAME")
    role: RoleName
    state: Literal["active", "expired", "revoked"]
    prefix: str = Field(description="its first characters, to recognise it")
    created_at: datetime | None
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to the minute")


class TokenCreated(TokenOut):
    """A new token: ``token`` is shown in this answer only; store it now."""

    token: str = Field(description="send as 'Authorization: Bearer <token>'")


class NewTokenIn(BaseModel):
    """A token to create (``radius-server token create``)."""

    name: str = Field(max_length=64)
    role: RoleName
    expires: date | datetime | None = Field(
        default=None, description="last day it works (YYYY-MM-DD, the space's zone) or an instant"
    )


def _out(record: TokenRecord) -> dict[str, object]:
    state = "revoked" if record.revoked_at else "active" if record.usable(utcnow()) else "expired"
    return {**record.to_dict(), "state": state}


@router.get("", response_model=list[TokenOut])
def list_tokens(caller: Annotated[Caller, Depends(admin_only)]) -> list[TokenOut]:
    """Every token by name, revoked and expired ones too."""
    return [TokenOut(**_out(r)) for r in caller.admin.tokens.list()]


@router.post("", response_model=TokenCreated, status_code=201)
def create_token(
    body: NewTokenIn, caller: Annotated[Caller, Depends(admin_only)], response: Response
) -> TokenCreated:
    """A new token; its value is in this answer and nowhere else, ever."""
    record, token = caller.admin.tokens.create(body.name, Role.parse(body.role), body.expires)
    no_store(response)
    return TokenCreated(**_out(record), token=token)


@router.delete("/{name}", response_model=TokenOut)
def revoke_token(name: str, caller: Annotated[Caller, Depends(admin_only)]) -> TokenOut:
    """Stop a token at once (it stays listed as revoked)."""
    return TokenOut(**_out(caller.admin.tokens.revoke(name)))
