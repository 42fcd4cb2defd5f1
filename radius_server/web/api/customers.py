"""``/api/v1/customers``: members and their PINs (list, show, create, change, remove, PIN).

The idempotent push and the full sync are in ``customer_sync``, CSV in
``customer_csv``. A PIN is in an answer only where the request chose it (create,
PIN set or regenerate) or an operator asked for it; readonly tokens never see one.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Response, status

from radius_server.admin.customers import CustomerResult, CustomerUpdate, NewCustomer
from radius_server.rules.plan_text import name_key
from radius_server.rules.validation import DEFAULT_WORD
from radius_server.rules.validation import quote as quote_text
from radius_server.store.records import CustomerRecord
from radius_server.web.api.common import no_store
from radius_server.web.api.customer_models import (
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    CustomerWritten,
    NewCustomerIn,
    PinIn,
    customer_out,
)
from radius_server.web.api.pagination import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from radius_server.web.auth import Caller, operator, readonly
from radius_server.web.problems import FORBIDDEN, INVALID_REQUEST, INVALID_VALUE, Problem

# Re-exported: other routes (and pages) show members the same way.
__all__ = ["CustomerOut", "customer_out", "router"]

router = APIRouter(prefix="/customers", tags=["customers"])

EmailPath = Annotated[str, Path(description="the member's email (any case)", max_length=254)]


def location(email: str) -> str:
    """The URL of a member, for a Location header."""
    return f"/api/v1/customers/{quote(email, safe='@')}"


def plan_names(caller: Caller, *records: CustomerRecord) -> dict[int, str]:
    """Plan id -> name for showing ``records``; no query when all have the default plan."""
    if all(r.plan_id is None for r in records):
        return {}
    return caller.admin.plans.names()


def check_plan(caller: Caller, name: str | None) -> None:
    """A 422 naming ``plan`` for an unknown plan (the store's NotFound would read as a 404)."""
    if name is None or name.strip().lower() == DEFAULT_WORD:
        return
    if name_key(name) not in {name_key(n) for n in caller.admin.plans.names().values()}:
        raise Problem(INVALID_VALUE, f"unknown plan {quote_text(name)}", field="plan")


def written(
    caller: Caller, result: CustomerResult, response: Response, *, include_pin: bool
) -> CustomerWritten:
    """The answer to a change (the PIN when the change chose it and the role may see it)."""
    if include_pin:
        no_store(response)
    shown = customer_out(
        result.record,
        include_pin=include_pin and caller.sees_pins,
        plans=plan_names(caller, result.record),
    )
    return CustomerWritten(
        **shown.model_dump(), changed=result.changed, warnings=list(result.warnings)
    )


@router.get("", response_model=CustomerPage)
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
    plans = plan_names(caller, *page)
    return CustomerPage(
        items=[customer_out(r, plans=plans) for r in page],
        next_cursor=encode_cursor(page[-1].email) if more and page else None,
    )


@router.get("/{email}", response_model=CustomerOut)
def show_customer(
    email: EmailPath,
    caller: Annotated[Caller, Depends(readonly)],
    response: Response,
    include_pin: Annotated[
        bool, Query(description="also the PIN (operator and admin tokens only)")
    ] = False,
) -> CustomerOut:
    """One member; the PIN only when asked and the token's role may see it."""
    if include_pin and not caller.sees_pins:
        raise Problem(FORBIDDEN, "a readonly token never sees PINs", field="include_pin")
    if include_pin:
        no_store(response)
    record = caller.admin.customers.get(email)
    return customer_out(record, include_pin=include_pin, plans=plan_names(caller, record))


@router.post(
    "",
    response_model=CustomerWritten,
    status_code=status.HTTP_201_CREATED,
    responses={201: {"description": "Created; Location names the member; the body has the PIN"}},
)
def create_customer(
    body: NewCustomerIn, caller: Annotated[Caller, Depends(operator)], response: Response
) -> CustomerWritten:
    """Create a member; the answer carries the PIN (given, or drawn at random)."""
    check_plan(caller, body.plan)
    result = caller.admin.customers.add(
        NewCustomer(
            email=body.email,
            name=body.name,
            pin=body.pin,
            active=body.active,
            wifi_access=body.wifi_access,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
            plan=body.plan,
            device_limit=body.device_limit,
        )
    )
    response.headers["Location"] = location(result.record.email)
    return written(caller, result, response, include_pin=True)


_NOT_NULL = ("name", "active", "wifi_access")


@router.patch("/{email}", response_model=CustomerWritten)
def update_customer(
    email: EmailPath,
    body: CustomerPatch,
    caller: Annotated[Caller, Depends(operator)],
    response: Response,
) -> CustomerWritten:
    """Change some fields (see the body); one transaction, audited; never the PIN."""
    given = body.model_fields_set
    for name in _NOT_NULL:
        if name in given and getattr(body, name) is None:
            raise Problem(INVALID_REQUEST, f"{name} cannot be null", field=name)
    check_plan(caller, body.plan)
    update = CustomerUpdate(
        name=body.name,
        active=body.active,
        wifi_access=body.wifi_access,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        clear_valid_from="valid_from" in given and body.valid_from is None,
        clear_valid_until="valid_until" in given and body.valid_until is None,
        device_limit=body.device_limit,
        clear_device_limit="device_limit" in given and body.device_limit is None,
        plan=(body.plan or DEFAULT_WORD) if "plan" in given else None,
    )
    return written(
        caller, caller.admin.customers.update(email, update), response, include_pin=False
    )


@router.delete(
    "/{email}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, response_model=None
)
def remove_customer(email: EmailPath, caller: Annotated[Caller, Depends(operator)]) -> Response:
    """Remove a member: their PIN stops working on every server, their sessions end."""
    caller.admin.customers.remove(email)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{email}/pin", response_model=CustomerWritten)
def set_pin(
    email: EmailPath,
    body: PinIn,
    caller: Annotated[Caller, Depends(operator)],
    response: Response,
) -> CustomerWritten:
    """Give the member this PIN (409 pin-taken if another member has it); the answer has it."""
    result = caller.admin.customers.set_pin(email, body.pin.strip())
    return written(caller, result, response, include_pin=True)


@router.post("/{email}/pin:regenerate", response_model=CustomerWritten)
def regenerate_pin(
    email: EmailPath, caller: Annotated[Caller, Depends(operator)], response: Response
) -> CustomerWritten:
    """Give the member a new random PIN; the answer has it."""
    result = caller.admin.customers.regenerate_pin(email)
    return written(caller, result, response, include_pin=True)
