"""The staff home page: where to go, by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from radius_server.rules.roles import Role
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import HOME_PATH, StaffUser, staff_page

router = APIRouter(include_in_schema=False)


@router.get(HOME_PATH)
def home(
    request: Request, user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))]
) -> Response:
    """The sections this role may open."""
    return render(request, "staff/home.html", {"title": "Home"}, user=user)
