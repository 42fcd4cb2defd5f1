"""The JSON API under ``/api/v1``: one module per resource, each an APIRouter."""

from __future__ import annotations

from fastapi import APIRouter

from radius_server.web.api import customer_csv, customer_sync, customers

api_router = APIRouter(prefix="/api/v1")
for _module in (customers, customer_sync, customer_csv):
    api_router.include_router(_module.router)
