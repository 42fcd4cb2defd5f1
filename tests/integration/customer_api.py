"""The customer API tests' view of the shared ``api`` fixture (tests/integration/api_fixtures.py).

``call`` sends an operator's token unless told another role (the customer routes
are an operator's work); ``writes`` and ``audit`` tell what a request wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from radius_server.rules.roles import Role
from radius_server.store.models import AuditEvent, Change
from tests.integration.api_fixtures import Api, assert_problem

# The audit actor of the operator token the shared fixture makes.
OPERATOR_ACTOR = "token:test-operator"


@dataclass
class CustomerApi:
    """The shared fixture's application, with the customer tests' helpers."""

    api: Api

    @property
    def client(self) -> Any:
        """The TestClient."""
        return self.api.client

    @property
    def admin(self) -> Any:
        """The admin layer, for setting up data."""
        return self.api.admin

    @property
    def sessions(self) -> Any:
        """Sessions on the test's database."""
        return self.api.sessions

    def call(self, method: str, path: str, role: str = "operator", **kw: Any) -> httpx.Response:
        """One request with the token of ``role`` (a role's label)."""
        return self.api.request(method, path, Role.parse(role), **kw)

    def writes(self) -> tuple[int, int]:
        """Number of change-feed rows and audit rows."""
        with self.sessions() as session:
            return (
                session.scalar(select(func.count(Change.seq))) or 0,
                session.scalar(select(func.count(AuditEvent.id))) or 0,
            )

    def audit(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(actor, action, target, details) of the customer audit rows, oldest first."""
        with self.sessions() as session:
            rows = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith("customer."))
                .order_by(AuditEvent.id)
            )
            return [
                (r.actor, r.action, r.target, json.loads(r.details) if r.details else {})
                for r in rows
            ]


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The problem body, after checking its status, media type and type."""
    return assert_problem(response, status, slug)
