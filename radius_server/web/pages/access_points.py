"""``/staff/access-points``: the RADIUS clients (access points, controllers); an admin adds one.

Every role reads the list, never a secret. An admin adds one; the shared secret
(typed, or generated when left empty) is shown on the answer to that form post
alone, with the lines to configure the access point, and nowhere else: the list
never has it and the answer is not cached (``Cache-Control: no-store``, added to
every page by headers.py). The admin layer (``Admin.clients``) does the work, as
for ``radius-server nas add``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from radius_server.admin.clients import NewClient
from radius_server.logging import get_logger
from radius_server.rules.plans import VENDORS
from radius_server.rules.roles import Role
from radius_server.store.errors import StoreError
from radius_server.store.records import ClientRecord
from radius_server.web.pages.nav import SECTIONS, Section
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import StaffUser, staff_form, staff_page

PATH = "/staff/access-points"
router = APIRouter(include_in_schema=False)
SECTIONS.append(
    Section(
        PATH,
        "Access points",
        Role.READONLY,
        "The access points allowed to ask this server; admins add them.",
    )
)
_log = get_logger("web")

# Form fields are capped (a long one is refused before any work is done).
_Short = Annotated[str, Form(max_length=100)]
_Secret = Annotated[str, Form(max_length=200)]
# Which form field an admin-layer refusal is about, from words its message uses;
# the message is shown next to that field (or above the form when none matches).
_FIELD_WORDS = (
    ("secret", "secret"),
    ("vendor", "vendor"),
    ("location", "location"),
    ("address", "address"),
    ("network", "address"),
    ("name", "name"),
)


@dataclass(frozen=True, slots=True)
class AccessPointRow:
    """One line of the list: what the front desk needs, never the secret."""

    name: str
    address: str
    vendor: str
    location: str
    message_authenticator: str
    coa: str


def _rows(records: list[ClientRecord], locations: dict[int, str]) -> list[AccessPointRow]:
    rows = []
    for r in records:
        coa = []
        if r.coa_port is not None:
            coa.append(f"Disconnect-Requests to port {r.coa_port}")
        if r.coa:
            coa.append("takes CoA-Requests")
        rows.append(
            AccessPointRow(
                name=r.name,
                address=r.address,
                vendor=r.vendor,
                location=locations.get(r.location_id, "") if r.location_id is not None else "",
                message_authenticator="required" if r.require_message_authenticator else "optional",
                coa="; ".join(coa) or "no",
            )
        )
    return rows


def _field_of(message: str) -> str:
    lowered = message.lower()
    for word, field in _FIELD_WORDS:
        if word in lowered:
            return field
    return ""


def _list_page(
    request: Request,
    user: StaffUser,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    admin = user.admin
    locations = admin.locations.names()
    context = {
        "title": "Access points",
        "rows": _rows(admin.clients.find(), locations),
        "locations": sorted(locations.values()),
        "vendors": VENDORS,
        "form": form or {"vendor": "generic", "require_ma": True},
        "errors": errors or {},
        "can_add": user.role.allows(Role.ADMIN),
    }
    return render(request, "staff/access_points.html", context, user=user, status_code=status_code)


@router.get(PATH)
def access_points(
    request: Request, user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))]
) -> Response:
    """Every access point; for an admin, the form to add one."""
    return _list_page(request, user)


@router.post(PATH)
def add_access_point(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_form(Role.ADMIN))],
    name: _Short = "",
    address: _Short = "",
    vendor: _Short = "generic",
    location: _Short = "",
    secret: _Secret = "",
    require_ma: _Short = "",
) -> Response:
    """Add an access point; the answer shows its secret, this once."""
    form = {
        "name": name,
        "address": address,
        "vendor": vendor,
        "location": location,
        "require_ma": bool(require_ma),
    }
    errors = {}
    if not name.strip():
        errors["name"] = "Give the access point a name."
    if not address.strip():
        errors["address"] = "Give its IP address or network (CIDR)."
    if errors:
        return _list_page(request, user, form=form, errors=errors, status_code=422)
    new = NewClient(
        name.strip(),
        address.strip(),
        # A typed secret is kept exactly as typed (the access point must match it).
        secret if secret.strip() else None,
        require_message_authenticator=bool(require_ma),
        vendor=vendor.strip().lower() or "generic",
        location=location.strip() or None,
    )
    try:
        result = user.admin.clients.add(new)
    except StoreError as exc:
        # The admin layer's messages name no secret (store/errors.py).
        message = str(exc)
        field = _field_of(message) or "form"
        return _list_page(request, user, form=form, errors={field: message}, status_code=422)
    record = result.record
    _log.info("access_point_added", name=record.name, generated_secret=not secret.strip())
    host = request.app.state.settings.host
    context = {
        "title": f"Access point {record.name} added",
        "record": record,
        "location": location.strip(),
        "warnings": result.warnings,
        # The address the access point reaches: the configured one, unless it is a wildcard.
        "server": host if host not in ("::", "0.0.0.0", "") else "",  # noqa: S104 (compared)
        "auth_port": request.app.state.settings.auth_port,
        "acct_port": request.app.state.settings.acct_port,
    }
    return render(request, "staff/access_point_added.html", context, user=user)
