"""The JSON API under ``/api/v1``: one module per resource, each an APIRouter."""

from __future__ import annotations

from fastapi import APIRouter

from radius_server.web.api import customers, decisions

api_router = APIRouter(prefix="/api/v1")
for _module in (customers, decisions):
    api_router.include_router(_module.router)
