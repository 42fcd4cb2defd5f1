"""The API's routes as data, and tokens of every kind, for the security tests.

The tests walk ``create_app(...).routes`` rather than a list kept by hand, so a
route added tomorrow is covered (or fails the test) without anyone remembering it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.roles import Role
from radius_server.store.journal import utcnow
from radius_server.store.models import ApiToken
from radius_server.store.tokens import TokenRepository
from radius_server.web.auth import PUBLIC_PATHS

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
# Where a route's path parameter names a thing, a value of the right shape.
_PLAUSIBLE = {
    "email": "nobody@example.org",
    "id": "1",
    "name": "ap-1",
    "nas": "ap-1",
    "client": "ap-1",
    "plan": "hot-desk",
    "location": "main",
    "session_id": "1",
    "token": "ci",
}


@dataclass(frozen=True)
class Route:
    """A route as the application serves it: included routers' prefixes and
    dependencies applied (FastAPI >= 0.165 keeps included routers unflattened)."""

    path: str
    methods: frozenset[str]
    dependant: Dependant | None
    include_in_schema: bool
    kind: str  # the class of the route as declared: APIRoute, Route, Mount...

    @property
    def is_api_route(self) -> bool:
        """An APIRoute: one that can take dependencies."""
        return self.kind == APIRoute.__name__ and self.dependant is not None


def flat_routes(app: FastAPI) -> list[Route]:
    """Every route of ``app`` with its effective path, methods and dependencies."""
    contexts: Any = getattr(routing, "iter_route_contexts", None)
    found = []
    for context in contexts(app.routes) if contexts else app.routes:
        original = getattr(context, "original_route", context)
        found.append(
            Route(
                path=str(getattr(context, "path", "") or ""),
                methods=frozenset(getattr(context, "methods", None) or ()),
                dependant=getattr(context, "dependant", None),
                include_in_schema=bool(getattr(context, "include_in_schema", False)),
                kind=type(original).__name__
                if not isinstance(original, APIRoute)
                else APIRoute.__name__,
            )
        )
    return found


@dataclass(frozen=True)
class Endpoint:
    """One method of one route: what the tests call."""

    method: str
    path: str
    route: Route

    def url(self, values: dict[str, str] | None = None) -> str:
        """The path with its parameters filled (``values`` first, then plausible ones)."""
        given = values or {}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in given:
                return given[name]
            for key, value in _PLAUSIBLE.items():
                if key in name.lower():
                    return value
            return "1" if _is_int(self.route, name) else "x"

        return _PARAM.sub(fill, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _is_int(route: Route, name: str) -> bool:
    for param in route.dependant.path_params if route.dependant else ():
        if param.name == name:
            return param.field_info.annotation is int
    return False


def role_dependencies(dependant: Dependant) -> list[Any]:
    """Every dependency in ``dependant``'s tree made by ``auth.require`` (has ``.role``)."""
    found = []
    for sub in dependant.dependencies:
        if sub.call is not None and hasattr(sub.call, "role"):
            found.append(sub.call)
        found.extend(role_dependencies(sub))
    return found


def is_api(route: Route) -> bool:
    """Whether a route belongs to the API (its paths, or anything in its OpenAPI document).

    The web pages (issue 15, include_in_schema=False outside /api/) have their own
    sign-in and their own test (test_pages_security.py).
    """
    return route.path.startswith("/api/") or route.include_in_schema


def guarded_routes(app: FastAPI) -> list[Route]:
    """The API's routes that must demand a token: all of them but ``PUBLIC_PATHS``."""
    return [r for r in flat_routes(app) if is_api(r) and r.path not in PUBLIC_PATHS]


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, path) of the API's guarded APIRoutes (HEAD left to its GET)."""
    for route in guarded_routes(app):
        if route.is_api_route:
            for method in sorted(route.methods - {"HEAD"}):
                yield Endpoint(method, route.path, route)


def required_role(endpoint: Endpoint) -> Role:
    """The smallest role an endpoint admits (its one ``require`` dependency)."""
    assert endpoint.route.dependant is not None
    (dependency,) = role_dependencies(endpoint.route.dependant)
    return dependency.role


@dataclass
class Tokens:
    """One usable token per role, and a revoked and an expired one (admin, so only
    the revocation or the expiry can explain a refusal)."""

    by_role: dict[Role, str]
    revoked: str
    expired: str

    def header(self, role: Role) -> dict[str, str]:
        """The Authorization header of ``role``'s token."""
        return bearer(self.by_role[role])


def bearer(token: str) -> dict[str, str]:
    """``Authorization: Bearer token``."""
    return {"Authorization": f"Bearer {token}"}


def make_tokens(sessions: sessionmaker[Session]) -> Tokens:
    """Tokens of every role, a revoked one and one that expired (moved into the past)."""
    repo = TokenRepository(sessions, "cli:test")
    by_role = {role: repo.create(f"t-{role.label}", role)[1] for role in Role}
    revoked = repo.create("t-revoked", Role.ADMIN)[1]
    repo.revoke("t-revoked")
    expired = repo.create("t-expired", Role.ADMIN, utcnow() + timedelta(days=1))[1]
    with sessions() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.name == "t-expired")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    return Tokens(by_role, revoked, expired)
