"""The JSON API under ``/api/v1``: one module per resource, each an APIRouter."""

from __future__ import annotations

from fastapi import APIRouter

from radius_server.web.api import (
    audit,
    clients,
    customer_csv,
    customer_sync,
    customers,
    decisions,
    locations,
    lockouts,
    plans,
    reminders,
    sessions,
    templates,
    tokens,
)

api_router = APIRouter(prefix="/api/v1")
for _module in (
    customers,
    customer_sync,
    customer_csv,
    clients,
    plans,
    locations,
    lockouts,
    sessions,
    reminders,
    audit,
    templates,
    tokens,
    decisions,
):
    api_router.include_router(_module.router)
