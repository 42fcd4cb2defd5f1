"""A readonly token never receives a PIN or a secret; an operator never a NAS secret.

Every route a role may call (and every GET route) is called on a database holding
a member and an access point whose PIN and secrets are known, with each boolean
query option ("include_pin", "reveal"...) tried on its own; the values must not
appear anywhere in any response body or header. Routes are enumerated from the
application, so routes added later are checked too.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from radius_server.admin import Admin
from radius_server.admin.clients import NewClient
from radius_server.admin.customers import NewCustomer
from radius_server.config import Settings
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.web.app import create_app
from tests.integration.api_routes import Endpoint, Route, Tokens, endpoints, make_tokens
from tests.integration.api_routes import required_role as role_of
from tests.integration.test_plan_store import seed_default_plan

EMAIL = "ana@example.org"
PIN = "73915"
NAS = "ap-1"
SECRET = "nas-secret-Zq8w3Xk1v9Lm"
COA_SECRET = "coa-secret-Pp4Rr7Tt2Yy"
# A PIN is five digits: find it alone, not inside a longer number (a timestamp's digits).
PIN_ALONE = re.compile(rf"(?<!\d){PIN}(?!\d)")
# What a route's path parameters name, pointed at the member and the access point.
VALUES = {"email": EMAIL, "name": NAS, "nas": NAS, "client": NAS, "client_name": NAS}


@dataclass
class World:
    app: FastAPI
    client: TestClient
    tokens: Tokens


@pytest.fixture
def world(clean_db_url: str) -> Iterator[World]:
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    seed_default_plan(sessions)
    settings = Settings(database_url=clean_db_url, web_auth_failures=10_000)
    admin = Admin(settings, sessions, "cli:test")
    admin.customers.add(NewCustomer(email=EMAIL, name="Ana", pin=PIN))
    admin.clients.add(
        NewClient(
            name=NAS, address="192.0.2.1", secret=SECRET, coa_port=3799, coa_secret=COA_SECRET
        )
    )
    tokens = make_tokens(sessions)
    app = create_app(settings, engine)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield World(app, client, tokens)
    finally:
        engine.dispose()


def bool_queries(route: Route) -> list[str]:
    """The route's boolean query options (include_pin, reveal...)."""
    names = []
    for param in route.dependant.query_params if route.dependant else ():
        annotation = param.field_info.annotation
        if annotation is bool or bool in typing.get_args(annotation):
            names.append(param.alias or param.name)
    return names


def values_for(endpoint: Endpoint) -> dict[str, str]:
    """Path parameters naming things that exist (a plan's {name} is the default plan)."""
    if endpoint.path.startswith("/api/v1/plans/"):
        return {**VALUES, "name": "default"}
    return VALUES


def calls(world: World, endpoint: Endpoint, role: Role) -> Iterator[httpx.Response]:
    """The endpoint as ``role``: plainly, then with each boolean option set."""
    body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    url = endpoint.url(values_for(endpoint))
    headers = world.tokens.header(role)
    for query in [None, *({name: "true"} for name in bool_queries(endpoint.route))]:
        yield world.client.request(endpoint.method, url, params=query, headers=headers, json=body)


def leaks(response: httpx.Response, *, pins: bool, secrets: bool, tokens: Tokens) -> list[str]:
    """What of the known values the response carries (body and headers)."""
    text = response.text + "\n" + json.dumps(dict(response.headers))
    found = []
    if pins and PIN_ALONE.search(text):
        found.append("PIN")
    if secrets:
        known = (("secret", SECRET), ("coa_secret", COA_SECRET))
        found += [name for name, value in known if value in text]
    found += [f"token:{role.label}" for role, value in tokens.by_role.items() if value in text]
    return found


def reachable(world: World, role: Role) -> list[Endpoint]:
    """Every GET endpoint, and every endpoint ``role`` may call."""
    return [e for e in endpoints(world.app) if e.method == "GET" or role_of(e) <= role]


def test_the_known_values_are_really_there(world: World) -> None:
    """The check below can fail: an admin asking for them does get the PIN."""
    response = world.client.get(
        f"/api/v1/customers/{EMAIL}",
        params={"include_pin": "true"},
        headers=world.tokens.header(Role.ADMIN),
    )
    assert response.status_code == 200
    assert PIN_ALONE.search(response.text)


def test_readonly_never_receives_a_pin_or_a_secret(world: World) -> None:
    faults, answered = [], 0
    for endpoint in reachable(world, Role.READONLY):
        for response in calls(world, endpoint, Role.READONLY):
            answered += response.status_code == 200
            found = leaks(response, pins=True, secrets=True, tokens=world.tokens)
            if found:
                faults.append(f"{endpoint} {response.url.query!r}: {found}")
    assert not faults, "\n".join(faults)
    assert answered >= 2  # the list and the member's page did answer


def test_operator_never_receives_a_nas_secret(world: World) -> None:
    faults = []
    for endpoint in reachable(world, Role.OPERATOR):
        if endpoint.method != "GET":
            continue  # an operator's changes are the member tests' business
        for response in calls(world, endpoint, Role.OPERATOR):
            found = leaks(response, pins=False, secrets=True, tokens=world.tokens)
            if found:
                faults.append(f"{endpoint} {response.url.query!r}: {found}")
    assert not faults, "\n".join(faults)


def test_no_role_ever_receives_a_token(world: World) -> None:
    """Tokens are shown once, by the CLI: no route (admin included) hands one out."""
    faults = []
    for endpoint in endpoints(world.app):
        if endpoint.method != "GET":
            continue
        for response in calls(world, endpoint, Role.ADMIN):
            found = leaks(response, pins=False, secrets=False, tokens=world.tokens)
            if found:
                faults.append(f"{endpoint}: {found}")
    assert not faults, "\n".join(faults)
