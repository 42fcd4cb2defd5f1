"""Request and response bodies of the customer routes (typed, described in the OpenAPI)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from radius_server.rules.validation import DEFAULT_WORD, MAX_EMAIL
from radius_server.store.csv_io import MAX_ROWS, parse_when
from radius_server.store.records import CustomerRecord


def _when(value: Any) -> Any:
    # "2027-01-31" is a whole day (a date), "2027-01-31T00:00:00Z" an instant: pydantic
    # alone would read the first as midnight or the second as a date, and a day's end
    # is inclusive (rules/validity.py). The CSV import's reading decides both.
    return parse_when(value) if isinstance(value, str) else value


When = Annotated[
    date | datetime,
    BeforeValidator(_when),
    Field(
        description="YYYY-MM-DD: a whole day in the space's time zone (valid_until: through "
        "that day); or an ISO 8601 instant (no offset: read in the space's time zone)"
    ),
]
Pin = Annotated[str, Field(min_length=1, max_length=16, description="exactly 5 digits (0-9)")]
PlanName = Annotated[
    str, Field(max_length=200, description="a plan's name; 'default' for the default plan")
]
DeviceLimit = Annotated[
    int, Field(description="devices online at once, 0 = unlimited; null: the server's setting")
]
Email = Annotated[str, Field(min_length=3, max_length=MAX_EMAIL, description="the member's email")]


class CustomerOut(BaseModel):
    """A member as the API shows it; ``pin`` only where the route says so."""

    id: int
    email: str
    name: str
    active: bool = Field(description="false: disabled, no Wi-Fi")
    wifi_access: bool
    valid_from: datetime | None = Field(description="access begins (UTC); null: no start")
    valid_until: datetime | None = Field(description="access ends, exclusive (UTC); null: none")
    created_at: datetime | None
    updated_at: datetime | None
    pin_changed_at: datetime | None
    device_limit: int | None = Field(description="null: the server's device_limit setting")
    plan: str | None = Field(
        default=None, description="the plan's name; 'default': the default plan"
    )
    plan_id: int | None = Field(description="the plan's id; null: the default plan")
    pin: str | None = Field(
        default=None, description="the PIN: only in answers that hand it out (never to readonly)"
    )


class CustomerWritten(CustomerOut):
    """A member after a change; ``pin`` when the change chose it (create, PIN set/regenerate)."""

    changed: bool = Field(default=True, description="false: it already was so; nothing written")
    warnings: list[str] = Field(default_factory=list, description="e.g. the PIN space filling")


class CustomerPage(BaseModel):
    """One page of members and the cursor of the next (None: this was the last)."""

    items: list[CustomerOut]
    next_cursor: str | None


class NewCustomerIn(BaseModel):
    """A member to create; only ``email`` is required."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: str = Field(default="", max_length=200)
    pin: Pin | None = Field(default=None, description="5 digits; left out: a random free one")
    active: bool = True
    wifi_access: bool = True
    valid_from: When | None = None
    valid_until: When | None = None
    plan: PlanName | None = Field(default=None, description="left out: the default plan")
    device_limit: DeviceLimit | None = None


class CustomerPatch(BaseModel):
    """Fields to change; a field left out stays as it is.

    ``null`` clears: valid_from/valid_until (no limit on that end), device_limit
    (back to the server's setting), plan (the default plan).
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    active: bool | None = None
    wifi_access: bool | None = None
    valid_from: When | None = None
    valid_until: When | None = None
    device_limit: DeviceLimit | None = None
    plan: PlanName | None = None


class PinIn(BaseModel):
    """The PIN to give the member."""

    model_config = ConfigDict(extra="forbid")

    pin: Pin


class MemberStateIn(CustomerPatch):
    """A member's state as the membership platform has it (PUT: create or update).

    A field left out keeps the member's value (a new member gets the default);
    ``pin`` null or left out keeps the PIN (a new member gets a random one); a
    null date clears that end of the window; a null plan is the default plan.
    """

    pin: Pin | None = Field(default=None, description="left out or null: keep (new: random)")

    def fields(self) -> dict[str, Any]:
        """The fields the request gave (null included), by their public names."""
        return {name: getattr(self, name) for name in self.model_fields_set if name != "email"}


class SyncMemberIn(MemberStateIn):
    """One member of a full sync: its email and its state."""

    email: Email


Outcome = Literal["created", "updated", "unchanged", "disabled"]


class UpsertOut(BaseModel):
    """What a PUT did: created (201), updated or unchanged (200)."""

    result: Outcome = Field(description="created, updated or unchanged")
    changed: list[str] = Field(description="the fields this request changed (created: given)")
    customer: CustomerOut = Field(description="with the PIN only when this request set it")
    warnings: list[str] = Field(default_factory=list)


class SyncIn(BaseModel):
    """A full sync: every member the platform has."""

    model_config = ConfigDict(extra="forbid")

    members: list[SyncMemberIn] = Field(max_length=MAX_ROWS, description="every member")
    disable_missing: bool = Field(
        default=False, description="disable (active=false) active members not in the feed"
    )
    dry_run: bool = Field(default=False, description="report what would change; write nothing")


class SyncResult(BaseModel):
    """One member's outcome in a sync."""

    email: str
    result: Outcome
    changed: list[str] = Field(default_factory=list, description="fields changed (updated)")
    pin: str | None = Field(default=None, description="a PIN this sync chose (new members)")


class SyncCounts(BaseModel):
    """How many members each outcome had."""

    created: int
    updated: int
    unchanged: int
    disabled: int


class SyncOut(BaseModel):
    """What a sync did (or would do: dry_run)."""

    dry_run: bool
    written: bool = Field(description="false: a dry run, or nothing to change")
    counts: SyncCounts
    results: list[SyncResult]
    warnings: list[str] = Field(default_factory=list)


class RowErrorOut(BaseModel):
    """A bad row of a CSV file."""

    line: int = Field(description="line in the file (the header is line 1)")
    email: str
    reason: str


class ImportReportOut(BaseModel):
    """The report of 'radius-server customer import --json'."""

    ok: bool
    rows: int
    dry_run: bool
    written: bool
    created: int
    updated: int
    unchanged: int
    errors: list[RowErrorOut]
    warnings: list[str]


def customer_out(
    record: CustomerRecord,
    *,
    include_pin: bool = False,
    plans: Mapping[int, str] | None = None,
) -> CustomerOut:
    """The API's view of a record (the PIN only when ``include_pin``).

    ``plans``: plan id -> name (``Admin.plans.names()``), for ``plan``; without it
    ``plan`` is only filled for the default plan.
    """
    data: dict[str, Any] = record.to_dict(include_pin=include_pin)
    plan_id = record.plan_id
    data["plan"] = DEFAULT_WORD if plan_id is None else (plans or {}).get(plan_id)
    return CustomerOut(**data)
