"""CSV of members: ``POST /customers:import`` (all or nothing) and ``GET /customers:export``.

The same file format, checks and report as ``radius-server customer import`` /
``export`` (store/csv_io.py).
"""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from radius_server.web.api.customer_models import ImportReportOut
from radius_server.web.auth import Caller, operator, readonly
from radius_server.web.problems import FORBIDDEN, INVALID_ROWS, INVALID_VALUE, Problem

router = APIRouter(tags=["customers"])

CSV = "text/csv"
_CSV_BODY = {
    "description": "email,name,pin,active,wifi_access,valid_from,valid_until,plan "
    "(only email required; see 'radius-server customer import')",
    "media_type": CSV,
}


@router.post(
    "/customers:import",
    response_model=ImportReportOut,
    responses={422: {"description": "invalid-rows: the report, every bad line; nothing written"}},
)
def import_customers(
    body: Annotated[bytes, Body(**_CSV_BODY)],
    caller: Annotated[Caller, Depends(operator)],
    dry_run: Annotated[bool, Query(description="check and report; write nothing")] = False,
) -> ImportReportOut:
    """Create or update members from CSV (UTF-8): every row valid, or nothing written."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(INVALID_VALUE, "the body is not UTF-8 text", field="body") from None
    report = caller.admin.customers.import_csv(io.StringIO(text, newline=""), dry_run=dry_run)
    out = ImportReportOut(**report.to_dict())
    if not report.ok:
        summary = out.model_dump()
        summary.pop("errors")
        raise Problem(
            INVALID_ROWS,
            f"{len(report.errors)} bad rows; nothing was written",
            errors=[e.model_dump() for e in out.errors],
            report=summary,
        )
    return out


@router.get(
    "/customers:export",
    response_class=Response,
    responses={200: {"content": {CSV: {}}, "description": "every member, in email order"}},
)
def export_customers(
    caller: Annotated[Caller, Depends(readonly)],
    include_pin: Annotated[
        bool, Query(description="a pin column too (operator and admin tokens only)")
    ] = False,
) -> Response:
    """Every member as CSV, in the import's format (so an export imports back unchanged)."""
    if include_pin and not caller.sees_pins:
        raise Problem(FORBIDDEN, "a readonly token never sees PINs", field="include_pin")
    buffer = io.StringIO()
    caller.admin.customers.export_csv(buffer, include_pin=include_pin)
    return Response(
        buffer.getvalue(),
        media_type=f"{CSV}; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="customers.csv"',
            # PINs in it: kept out of every cache (as web/api/common.no_store).
            **({"Cache-Control": "no-store"} if include_pin else {}),
        },
    )
