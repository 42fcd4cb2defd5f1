"""``/api/v1/customers``: members and their PINs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from radius_server.store.records import CustomerRecord
from radius_server.web.api.pagination import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from radius_server.web.auth import Caller, readonly
from radius_server.web.problems import FORBIDDEN, Problem

router = APIRouter(prefix="/customers", tags=["customers"])


class CustomerOut(BaseModel):
    """A member as the API shows it; ``pin`` only where the route says so."""

    id: int
    email: str
    name: str
    active: bool
    wifi_access: bool
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    pin_changed_at: datetime | None
    device_limit: int | None
    plan_id: int | None
    pin: str | None = None


class CustomerPage(BaseModel):
    """One page of members and the cursor of the next (None: this was the last)."""

    items: list[CustomerOut]
    next_cursor: str | None


def customer_out(record: CustomerRecord, *, include_pin: bool = False) -> CustomerOut:
    """The API's view of a record (the PIN only when ``include_pin``)."""
    data: dict[str, Any] = record.to_dict(include_pin=include_pin)
    return CustomerOut(**data)


@router.get("", response_model=CustomerPage, response_model_exclude_none=False)
def list_customers(
    caller: Annotated[Caller, Depends(readonly)],
    search: Annotated[str | None, Query(max_length=254, description="in email or name")] = None,
    active: bool | None = None,
    wifi_access: bool | None = None,
    plan: Annotated[str | None, Query(description="a plan's name, or 'default'")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> CustomerPage:
    """Members in email order, filtered; never their PINs."""
    records = caller.admin.customers.find(
        active=active,
        wifi_access=wifi_access,
        search=search,
        plan=plan,
        after=decode_cursor(cursor),
        limit=limit + 1,
    )
    page = records[:limit]
    more = len(records) > limit
    return CustomerPage(
        items=[customer_out(r) for r in page],
        next_cursor=encode_cursor(page[-1].email) if more and page else None,
    )


@router.get("/{email}", response_model=CustomerOut)
def show_customer(
    email: str,
    caller: Annotated[Caller, Depends(readonly)],
    include_pin: Annotated[
        bool, Query(description="also the PIN (operator and admin tokens only)")
    ] = False,
) -> CustomerOut:
    """One member; the PIN only when asked and the token's role may see it."""
    record = caller.admin.customers.get(email)
    if include_pin and not caller.sees_pins:
        raise Problem(FORBIDDEN, "a readonly token never sees PINs", field="include_pin")
    return customer_out(record, include_pin=include_pin)
