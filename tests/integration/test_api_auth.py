"""Every route of the API refuses a missing, bad, revoked or expired token and a small role.

The routes are enumerated from the application itself (tests/integration/api_routes.py),
so a route added later is covered, and a route that forgot its ``require``
dependency fails ``test_every_api_route_takes_exactly_one_role``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import Settings
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.store.models import ApiToken, AuditEvent
from radius_server.web.app import create_app
from radius_server.web.auth import PUBLIC_PATHS
from radius_server.web.problems import FORBIDDEN, MEDIA_TYPE, UNAUTHORIZED
from tests.integration.api_routes import (
    Endpoint,
    Tokens,
    bearer,
    endpoints,
    flat_routes,
    guarded_routes,
    make_tokens,
    required_role,
    role_dependencies,
)
from tests.integration.test_plan_store import seed_default_plan

# The routes the foundation shipped: the enumeration must at least find these.
KNOWN = {"GET /api/v1/customers", "GET /api/v1/customers/{email}"}


@dataclass
class Api:
    """An application on a clean database, a client, and tokens of every kind."""

    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    tokens: Tokens


@pytest.fixture
def api(clean_db_url: str) -> Iterator[Api]:
    """The application on both back ends; failed authentications are not limited here."""
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    seed_default_plan(sessions)
    tokens = make_tokens(sessions)
    settings = Settings(database_url=clean_db_url, web_auth_failures=1_000_000)
    app = create_app(settings, engine)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(app, client, sessions, tokens)
    finally:
        engine.dispose()


def call(api: Api, endpoint: Endpoint, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request to ``endpoint``; a JSON body where the method takes one."""
    body: Any = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    return api.client.request(endpoint.method, endpoint.url(), headers=headers, json=body)


def all_endpoints(api: Api) -> list[Endpoint]:
    found = list(endpoints(api.app))
    missing = KNOWN - {str(e) for e in found}
    assert not missing, f"the enumeration lost routes: {missing}"
    return found


def audit_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(AuditEvent.id))) or 0


def refusals(
    api: Api, headers: dict[str, str] | None, status: int, only: Role | None = None
) -> list[str]:
    """Endpoints (all, or those needing more than ``only``) not answering ``status``."""
    wrong = []
    for endpoint in all_endpoints(api):
        if only is not None and required_role(endpoint) <= only:
            continue
        response = call(api, endpoint, headers)
        if response.status_code != status:
            wrong.append(f"{endpoint}: {response.status_code} {response.text[:120]}")
    return wrong


def test_every_api_route_takes_exactly_one_role(api: Api) -> None:
    """Each guarded route: an APIRoute with exactly one ``require`` dependency."""
    faults = []
    for route in guarded_routes(api.app):
        if not route.is_api_route or route.dependant is None:
            faults.append(f"{route.path}: a {route.kind}, which cannot take a token")
            continue
        found = role_dependencies(route.dependant)
        if len(found) != 1:
            faults.append(f"{route.path} {sorted(route.methods)}: {len(found)} role dependencies")
    assert not faults, "routes without exactly one auth.require dependency:\n" + "\n".join(faults)
    assert len(all_endpoints(api)) >= len(KNOWN)


def test_public_paths_are_public_and_hold_no_role(api: Api) -> None:
    """The public paths exist, answer without a token and take no role."""
    paths = {r.path: r for r in flat_routes(api.app)}
    for public in PUBLIC_PATHS:
        assert public in paths, f"{public} is public but no route has that path"
        route = paths[public]
        if route.dependant is not None:
            assert not role_dependencies(route.dependant)
        response = api.client.get(public)
        assert response.status_code == 200, public


def test_no_token_is_401_problem_with_challenge(api: Api) -> None:
    before = audit_rows(api.sessions)
    faults = []
    for endpoint in all_endpoints(api):
        response = call(api, endpoint)
        body = response.json() if response.status_code == 401 else {}
        if (
            response.status_code != 401
            or response.headers.get("content-type") != MEDIA_TYPE
            or not response.headers.get("www-authenticate", "").startswith("Bearer ")
            or body.get("type") != UNAUTHORIZED.type
            or body.get("instance") != endpoint.url()
        ):
            faults.append(f"{endpoint}: {response.status_code} {dict(response.headers)}")
    assert not faults, "\n".join(faults)
    assert audit_rows(api.sessions) == before


def test_no_token_is_401_before_the_body_is_read(api: Api) -> None:
    """A broken body without a token is a 401, not a 422: the body was never parsed."""
    faults = []
    for endpoint in all_endpoints(api):
        for headers in ({}, bearer(api.tokens.revoked)):
            response = api.client.request(
                endpoint.method,
                endpoint.url(),
                content=b'{"members": [{"email": ',
                headers={**headers, "content-type": "application/json"},
            )
            if response.status_code != 401:
                faults.append(f"{endpoint}: {response.status_code} {response.text[:120]}")
    assert not faults, "\n".join(faults)


def test_unknown_api_paths_and_methods_need_a_token_too(api: Api) -> None:
    """Without a token nothing under /api/ tells a route from a missing one."""
    for method, path in (("GET", "/api/v1/no-such-thing"), ("TRACE", "/api/v1/customers")):
        response = api.client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["type"] == UNAUTHORIZED.type


def test_revoked_token_is_401(api: Api) -> None:
    assert refusals(api, bearer(api.tokens.revoked), 401) == []


def test_expired_token_is_401(api: Api) -> None:
    assert refusals(api, bearer(api.tokens.expired), 401) == []


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token {admin}",
        "{admin}",
        "Bearer {admin} extra",
        "Bearer {admin}x",
        "Bearer rsk_",
        "Bearer " + "rsk_" + "A" * 300,
        "Bearer not-one-of-ours",
    ],
)
def test_malformed_authorization_is_401(api: Api, header: str) -> None:
    """Wrong scheme, no credentials, a good token mangled: never let through."""
    value = header.format(admin=api.tokens.by_role[Role.ADMIN])
    assert refusals(api, {"Authorization": value}, 401) == []


def test_too_small_a_role_is_403_problem(api: Api) -> None:
    """Every role below a route's own is refused with a forbidden problem; nothing written."""
    before = audit_rows(api.sessions)
    faults = []
    for endpoint in all_endpoints(api):
        needed = required_role(endpoint)
        for role in (r for r in Role if r < needed):
            response = call(api, endpoint, api.tokens.header(role))
            ok = (
                response.status_code == 403
                and response.headers.get("content-type") == MEDIA_TYPE
                and response.json().get("type") == FORBIDDEN.type
                and needed.label in response.json().get("detail", "")
            )
            if not ok:
                faults.append(f"{endpoint} as {role.label}: {response.status_code}")
    assert not faults, "\n".join(faults)
    assert audit_rows(api.sessions) == before


def test_the_declared_role_passes_the_gate(api: Api) -> None:
    """The role a route declares is enough: the declaration is the real gate, not a guess."""
    faults = []
    for endpoint in all_endpoints(api):
        response = call(api, endpoint, api.tokens.header(required_role(endpoint)))
        if response.status_code in (401, 403, 429):
            faults.append(f"{endpoint}: {response.status_code} {response.text[:160]}")
    assert not faults, "\n".join(faults)


def test_scheme_is_case_insensitive(api: Api) -> None:
    """RFC 9110 11.1: the scheme is case-insensitive; ``bearer`` works like ``Bearer``."""
    token = api.tokens.by_role[Role.READONLY]
    response = api.client.get("/api/v1/customers", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_use_is_recorded_without_the_token(api: Api) -> None:
    """A token's use is noted (last_used_at); the token itself is stored nowhere."""
    token = api.tokens.by_role[Role.READONLY]
    assert api.client.get("/api/v1/customers", headers=bearer(token)).status_code == 200
    with api.sessions() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "t-readonly"))
        assert row is not None and row.last_used_at is not None
        assert token not in repr(vars(row)) and row.token_hash != token


def test_a_change_is_audited_as_the_token(api: Api) -> None:
    """Every change made through the API carries the token's name as its actor."""
    response = api.client.post(
        "/api/v1/customers",
        json={"email": "ana@example.org", "name": "Ana"},
        headers=api.tokens.header(Role.OPERATOR),
    )
    assert response.status_code == 201, response.text
    with api.sessions() as session:
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.target == "ana@example.org"))
        )
    assert events and {e.actor for e in events} == {"token:t-operator"}


def test_the_openapi_document_says_every_route_needs_the_token(api: Api) -> None:
    """Clients (and the docs' Authorize button) learn the scheme from the document."""
    document = api.client.get("/api/v1/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    missing = []
    for endpoint in all_endpoints(api):
        operation = document["paths"].get(endpoint.path, {}).get(endpoint.method.lower()) or {}
        if not any(set(r) & set(schemes) for r in operation.get("security", [])):
            missing.append(str(endpoint))
    assert not missing, missing
