"""The customer API on a real database (SQLite and PostgreSQL) through FastAPI's TestClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.admin import Admin
from radius_server.config import Settings
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.store.models import AuditEvent, Change
from radius_server.web.app import create_app
from tests.integration.test_plan_store import seed_default_plan

PROBLEM = "application/problem+json"


@dataclass
class Api:
    """A client of the application and a token of each role (``as_`` picks one)."""

    client: TestClient
    sessions: sessionmaker[Session]
    admin: Admin
    tokens: dict[str, str]

    def call(self, method: str, path: str, role: str = "operator", **kwargs: Any) -> Any:
        """One request with the token of ``role``."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def writes(self) -> tuple[int, int]:
        """Number of change-feed rows and audit rows."""
        with self.sessions() as session:
            return (
                session.scalar(select(func.count(Change.seq))) or 0,
                session.scalar(select(func.count(AuditEvent.id))) or 0,
            )

    def audit(self, action_prefix: str = "customer.") -> list[tuple[str, str, str, dict[str, Any]]]:
        """(actor, action, target, details) of the customer audit rows, oldest first."""
        with self.sessions() as session:
            rows = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith(action_prefix))
                .order_by(AuditEvent.id)
            )
            return [
                (r.actor, r.action, r.target, json.loads(r.details) if r.details else {})
                for r in rows
            ]


@contextmanager
def open_api(clean_db_url: str) -> Iterator[Api]:
    """The application on an emptied database (default plan seeded), one token per role."""
    settings = Settings(database_url=clean_db_url, timezone="Europe/Berlin")
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    seed_default_plan(sessions)
    admin = Admin(settings, sessions, "test:seed")
    tokens = {
        role.label: admin.tokens.create(f"{role.label}-bot", role)[1]
        for role in (Role.READONLY, Role.OPERATOR, Role.ADMIN)
    }
    try:
        with TestClient(create_app(settings, engine)) as client:
            yield Api(client, sessions, admin, tokens)
    finally:
        engine.dispose()


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem body, after checking its status, media type and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:radius-server:problem:{slug}", body
    return body
