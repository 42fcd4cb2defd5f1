"""The OpenAPI document describes every route of the resource modules (any database will do)."""

from __future__ import annotations

from importlib import import_module

import pytest

from tests.integration.api_fixtures import Api, api, api_factory

__all__ = ["api", "api_factory"]

# The resource modules tested here (customers and PINs are tested on their own).
NAMES = [
    "audit",
    "clients",
    "locations",
    "lockouts",
    "plans",
    "reminders",
    "sessions",
    "templates",
    "tokens",
]
MODULES = [import_module(f"radius_server.web.api.{name}") for name in NAMES]


@pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)
def test_every_route_is_documented_with_typed_answers(api: Api) -> None:
    """Each route has a description and a JSON schema (a model) for its answer."""
    spec = api.client.get("/api/v1/openapi.json").json()
    routes = [
        (method.lower(), "/api/v1" + route.path)
        for module in MODULES
        for route in module.router.routes
        for method in route.methods
    ]
    assert len(routes) == 35
    for method, path in routes:
        operation = spec["paths"][path][method]
        assert operation.get("description"), (method, path)
        answers = operation["responses"]
        ok = next(code for code in answers if code.startswith("2"))
        assert "$ref" in str(answers[ok]["content"]["application/json"]["schema"]), (method, path)
