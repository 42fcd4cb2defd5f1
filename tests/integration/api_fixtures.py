"""The HTTP API in the test process: FastAPI's TestClient on ``clean_db_url`` (both back ends).

``api`` is an application on the emptied per-module database with one token
per role; ``api.get(path, role=...)`` and friends send that token. ``api.admin``
is the admin layer acting as the test, for setting up data. Import the fixtures
into a test module (``from tests.integration.api_fixtures import api, api_factory``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from radius_server.admin import Admin
from radius_server.config import Settings
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.web.app import create_app
from radius_server.web.problems import MEDIA_TYPE, TYPE_PREFIX
from tests.integration.test_plan_store import seed_default_plan

SETUP_ACTOR = "test-setup"


@dataclass
class Api:
    """A running application, its tokens by role, and the admin layer for setting up data."""

    client: TestClient
    admin: Admin
    sessions: sessionmaker[Session]
    tokens: dict[Role, str] = field(default_factory=dict)

    def request(self, method: str, path: str, role: Role = Role.ADMIN, **kw: Any) -> httpx.Response:
        """``method path`` with the token of ``role``."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> httpx.Response:
        """GET with the token of ``role``."""
        return self.request("GET", path, role, **kw)

    def post(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> httpx.Response:
        """POST with the token of ``role``."""
        return self.request("POST", path, role, **kw)

    def patch(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> httpx.Response:
        """PATCH with the token of ``role``."""
        return self.request("PATCH", path, role, **kw)

    def put(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> httpx.Response:
        """PUT with the token of ``role``."""
        return self.request("PUT", path, role, **kw)

    def delete(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> httpx.Response:
        """DELETE with the token of ``role``."""
        return self.request("DELETE", path, role, **kw)


@pytest.fixture
def api_factory(clean_db_url: str) -> Iterator[Callable[..., Api]]:
    """Start an application on the emptied database with settings ``**overrides``."""
    engines = []
    clients: list[TestClient] = []

    def start(**overrides: Any) -> Api:
        settings = Settings(**{"database_url": clean_db_url, "timezone": "UTC", **overrides})
        engine = database.make_engine(clean_db_url)
        engines.append(engine)
        sessions = database.make_session_factory(engine)
        seed_default_plan(sessions)
        admin = Admin(settings, sessions, SETUP_ACTOR)
        client = TestClient(create_app(settings, engine), raise_server_exceptions=False)
        clients.append(client)
        api = Api(client, admin, sessions)
        for role in Role:
            _, api.tokens[role] = admin.tokens.create(f"test-{role.label}", role)
        return api

    yield start
    for client in clients:
        client.close()
    for engine in engines:
        engine.dispose()


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> Api:
    """An application with default settings (time zone UTC)."""
    return api_factory()


def assert_problem(
    response: httpx.Response, status: int, slug: str, field: str | None = None
) -> dict[str, Any]:
    """``response`` is a problem of kind ``slug`` (naming ``field`` when given); its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPE_PREFIX + slug, body
    if field is not None:
        assert body.get("field") == field, body
    return body


def assert_hidden(response: httpx.Response, *secrets: str) -> None:
    """None of ``secrets`` (PINs, shared secrets, tokens) anywhere in ``response``."""
    for secret in secrets:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())
