"""Errors are RFC 9457 problem details: media type, members, stable types, no secrets.

Two kinds of test: on the real application (unknown route, wrong method, bad query,
bad body on every route that takes one), and on a small application with the same
handlers (problems.install) whose routes raise each error the admin layer can raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import structlog
from fastapi import Body, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError

from radius_server.config import ConfigError, Settings
from radius_server.rules.pins import PinError
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.store.errors import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    PinTaken,
    SchemaNotReady,
    StoreError,
)
from radius_server.web import problems
from radius_server.web.app import create_app
from radius_server.web.problems import KINDS, MEDIA_TYPE, TYPE_PREFIX
from tests.integration.api_routes import Tokens, endpoints, make_tokens, required_role
from tests.integration.test_plan_store import seed_default_plan

# What a client might send that must never come back.
PIN = "73915"
TOKEN = "rsk_SeNtByMiStAkE0123456789abcdefghijklmnopqrs"
PIN_ALONE = re.compile(rf"(?<!\d){PIN}(?!\d)")


def assert_problem(response: object, status: int, slug: str) -> dict[str, object]:
    """The response is a complete problem of ``slug``; its body."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == MEDIA_TYPE  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == TYPE_PREFIX + slug
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"].startswith("/")
    return body


def assert_no_secret(response: object) -> None:
    text = response.text + json.dumps(dict(response.headers))  # type: ignore[attr-defined]
    assert not PIN_ALONE.search(text), text
    assert TOKEN not in text, text


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    tokens: Tokens


@pytest.fixture
def api(clean_db_url: str) -> Iterator[Api]:
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    seed_default_plan(sessions)
    tokens = make_tokens(sessions)
    app = create_app(Settings(database_url=clean_db_url, web_auth_failures=10_000), engine)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(client, app, tokens)
    finally:
        engine.dispose()


def test_unknown_api_route_is_a_404_problem(api: Api) -> None:
    response = api.client.get("/api/v1/no-such-thing", headers=api.tokens.header(Role.ADMIN))
    body = assert_problem(response, 404, "not-found")
    assert body["instance"] == "/api/v1/no-such-thing"


def test_wrong_method_is_a_405_problem_naming_the_allowed(api: Api) -> None:
    response = api.client.request(
        "TRACE", "/api/v1/customers", headers=api.tokens.header(Role.READONLY)
    )
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


def test_bad_query_is_a_422_problem_with_field_and_errors(api: Api) -> None:
    response = api.client.get(
        "/api/v1/customers?limit=0&active=perhaps", headers=api.tokens.header(Role.READONLY)
    )
    body = assert_problem(response, 422, "invalid-request")
    fields = {e["field"] for e in body["errors"]}  # type: ignore[union-attr]
    assert fields == {"limit", "active"}
    assert body["field"] in fields
    assert all(e["message"] for e in body["errors"])  # type: ignore[union-attr]


def test_bad_cursor_names_the_cursor(api: Api) -> None:
    response = api.client.get(
        "/api/v1/customers?cursor=_w", headers=api.tokens.header(Role.READONLY)
    )
    assert assert_problem(response, 422, "invalid-request")["field"] == "cursor"


def test_unknown_member_is_a_404_problem_and_instance_has_no_query(api: Api) -> None:
    response = api.client.get(
        f"/api/v1/customers/nobody@example.org?include_pin=true&x={PIN}",
        headers=api.tokens.header(Role.ADMIN),
    )
    body = assert_problem(response, 404, "not-found")
    assert body["instance"] == "/api/v1/customers/nobody@example.org"
    assert_no_secret(response)


def _bodies() -> list[object]:
    """Bodies of the wrong shape carrying a PIN and a token in every place a value goes."""
    return [
        [PIN, TOKEN],
        {"pin": {"value": PIN}, "token": [TOKEN], "email": {"x": TOKEN}, "name": [PIN]},
        {"pin": PIN + "x", "new_pin": "1" + PIN, "email": TOKEN, "active": TOKEN},
        {"items": [{"pin": [PIN], "email": {"t": TOKEN}}], "members": TOKEN},
    ]


@pytest.mark.parametrize("body", _bodies(), ids=["list", "nested", "wrong-values", "items"])
def test_no_route_echoes_a_bad_body(api: Api, body: object) -> None:
    """Every route that takes a body, at its own role: a 4xx, never the PIN or token sent."""
    for endpoint in endpoints(api.app):
        if endpoint.method not in ("POST", "PUT", "PATCH"):
            continue
        headers = api.tokens.header(required_role(endpoint))
        response = api.client.request(endpoint.method, endpoint.url(), headers=headers, json=body)
        assert 400 <= response.status_code < 500, f"{endpoint}: {response.status_code}"
        assert_no_secret(response)
    response = api.client.request(
        "POST",
        "/api/v1/customers",
        headers={**api.tokens.header(Role.ADMIN), "content-type": "application/json"},
        content=b'{"pin": "' + PIN.encode() + b'", "token": "' + TOKEN.encode() + b'",,,',
    )
    assert_no_secret(response)


# --- the handlers alone, on a small application -------------------------------------------


class Member(BaseModel):
    email: str
    pin: Annotated[str, Field(pattern=r"^\d{5}$")]
    active: bool = True


def _failing(exc: BaseException) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/fail")
    def fail() -> None:
        raise exc

    @app.post("/members")
    def add(member: Annotated[Member, Body()]) -> dict[str, str]:
        return {"email": member.email}

    return app


@pytest.mark.parametrize(
    ("exc", "status", "slug", "field"),
    [
        (NotFound("no customer 'a@b.c'"), 404, "not-found", None),
        (AlreadyExists("a customer 'a@b.c' exists"), 409, "already-exists", None),
        (PinTaken("that PIN belongs to another member"), 409, "pin-taken", "pin"),
        (PinError("a PIN must be exactly 5 digits (0-9)"), 422, "invalid-pin", "pin"),
        (InvalidValue("bad date"), 422, "invalid-value", None),
        (ConfigError("setting x: bad"), 422, "invalid-value", None),
        (SchemaNotReady("run db upgrade"), 503, "database-unavailable", None),
        (StoreError("refused"), 422, "refused", None),
    ],
)
def test_admin_layer_errors_map_to_stable_problems(
    exc: BaseException, status: int, slug: str, field: str | None
) -> None:
    with TestClient(_failing(exc)) as client:
        body = assert_problem(client.get("/fail"), status, slug)
    assert body.get("field") == field
    assert body["detail"] == str(exc)


def test_an_error_naming_its_field_is_told() -> None:
    exc = InvalidValue("not a date")
    exc.field = "valid_until"  # type: ignore[attr-defined]
    with TestClient(_failing(exc)) as client:
        assert assert_problem(client.get("/fail"), 422, "invalid-value")["field"] == "valid_until"


@pytest.mark.parametrize(
    ("exc", "status", "slug"),
    [
        (
            IntegrityError("INSERT", {}, Exception(f"Key (pin)=({PIN}) already exists")),
            409,
            "conflict",
        ),
        (
            OperationalError("SELECT", {}, Exception(f"password {TOKEN} refused")),
            503,
            "database-unavailable",
        ),
        (RuntimeError(f"PIN {PIN} token {TOKEN}"), 500, "internal-error"),
    ],
)
def test_unexpected_errors_say_nothing_of_their_message(
    exc: BaseException, status: int, slug: str
) -> None:
    with (
        structlog.testing.capture_logs() as logs,
        TestClient(_failing(exc), raise_server_exceptions=False) as client,
    ):
        response = client.get("/fail")
    assert_problem(response, status, slug)
    assert_no_secret(response)
    assert PIN not in repr(logs) and TOKEN not in repr(logs)
    if status == 503:
        assert response.headers["retry-after"].isdigit()


def test_validation_errors_list_every_field_and_echo_no_input() -> None:
    with TestClient(_failing(RuntimeError())) as client:
        response = client.post("/members", json={"pin": TOKEN, "active": PIN + "x"})
        body = assert_problem(response, 422, "invalid-request")
        assert {e["field"] for e in body["errors"]} == {"email", "pin", "active"}
        assert body["field"] == body["errors"][0]["field"]
        assert_no_secret(response)
        broken = client.post(
            "/members",
            content=f'{{"pin": "{PIN}", "t": "{TOKEN}"'.encode(),
            headers={"content-type": "application/json"},
        )
        assert_problem(broken, 422, "invalid-request")
        assert_no_secret(broken)


def test_kinds_are_distinct_and_well_formed() -> None:
    slugs = [kind.slug for kind in KINDS]
    assert len(set(slugs)) == len(slugs)
    for kind in KINDS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", kind.slug)
        assert 400 <= kind.status < 600 and kind.title


def test_every_kind_is_documented_in_the_readme() -> None:
    """The README's table of problem types is the contract clients code against."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| `type` (`urn:radius-server:problem:`", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", table, re.MULTILINE))
    assert documented == {(kind.slug, str(kind.status)) for kind in KINDS}
