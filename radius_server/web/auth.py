"""Who is calling: bearer tokens, roles, and the limit on failed authentications.

Every route of the API declares the smallest role it needs with
``Depends(require(Role.X))``; tests enumerate the routes and prove each one
refuses no token, a revoked or expired token and a smaller role. Only the paths
in ``PUBLIC_PATHS`` (the API's description, which holds no data) are open.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from radius_server.admin import Admin
from radius_server.rules.roles import Role
from radius_server.store.tokens import TokenRecord
from radius_server.web.problems import (
    FORBIDDEN,
    TOO_MANY_ATTEMPTS,
    UNAUTHORIZED,
    Problem,
    problem_response,
)

# Routes anyone may read: the API's own description.
PUBLIC_PATHS = frozenset(
    {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/oauth2-redirect", "/healthz"}
)
_BEARER = HTTPBearer(auto_error=False, description="A token from 'radius-server token create'")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="radius-server"'}


class FailureLimiter:
    """Failed authentications per source in a sliding window; bounded memory.

    Per process: a source spread over N processes gets N budgets, which still
    bounds guessing of 256-bit tokens far below any use. Sources beyond
    ``max_sources`` push out the least recently failing one.
    """

    def __init__(
        self,
        budget: int,
        window: float,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``budget`` failures per ``window`` seconds; ``clock``: seconds (tests pass their own)."""
        self.budget = budget
        self.window = window
        self._clock = clock
        self._max_sources = max_sources
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = Lock()

    def _recent(self, source: str, now: float) -> deque[float] | None:
        times = self._failures.get(source)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[source]
            return None
        return times

    def retry_after(self, source: str, now: float | None = None) -> float:
        """Seconds until ``source`` may try again; 0 when it may now."""
        now = self._clock() if now is None else now
        with self._lock:
            times = self._recent(source, now)
            if times is None or len(times) < self.budget:
                return 0.0
            return max(0.0, times[0] + self.window - now)

    def fail(self, source: str, now: float | None = None) -> None:
        """Count one failed authentication from ``source``."""
        now = self._clock() if now is None else now
        with self._lock:
            times = self._recent(source, now) or deque()
            times.append(now)
            self._failures[source] = times
            self._failures.move_to_end(source)
            while len(self._failures) > self._max_sources:
                self._failures.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: its token and the admin layer acting as it."""

    token: TokenRecord
    admin: Admin

    @property
    def role(self) -> Role:
        """The token's role."""
        return self.token.role

    @property
    def sees_pins(self) -> bool:
        """Whether responses may carry PINs (operator and admin)."""
        return self.token.role.sees_secrets()

    @property
    def sees_secrets(self) -> bool:
        """Whether responses may carry NAS secrets (admin only)."""
        return self.token.role >= Role.ADMIN


def source_of(request: Request) -> str:
    """Who failed, for the limiter: the client's address, an IPv6 one as its /64.

    uvicorn has applied trusted proxies' X-Forwarded-For. One IPv6 host usually holds
    a whole /64 (RFC 4291 2.5.1; privacy addresses, RFC 8981, rotate within it), so
    counting single addresses would hand it 2^64 budgets.
    """
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


def actor_for(token: TokenRecord) -> str:
    """How a token appears in the audit trail."""
    return f"token:{token.name}"


def authenticate(state: Any, source: str, authorization: str | None) -> TokenRecord:
    """The usable token an ``Authorization`` header carries, else a 401/429 Problem.

    ``state``: the application's state (limiter, token_checker). Only a wrong token
    counts as a failure: a missing header or another scheme costs no look-up.
    """
    wait = state.limiter.retry_after(source)
    if wait > 0:
        raise Problem(
            TOO_MANY_ATTEMPTS,
            "too many failed authentications from this address; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    # As fastapi.security.HTTPBearer reads it: "Bearer" (any case), a space, the token.
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise Problem(UNAUTHORIZED, "send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    token = state.token_checker.authenticate(credentials)
    if token is None:
        state.limiter.fail(source)
        raise Problem(UNAUTHORIZED, "the token is unknown, revoked or expired", headers=_CHALLENGE)
    return token


def is_guarded(path: str) -> bool:
    """Whether ``path`` is the API's and needs a token (every /api/ path but PUBLIC_PATHS)."""
    return path.startswith("/api/") and path not in PUBLIC_PATHS


class TokenGate:
    """ASGI middleware: authenticate an API request before its body is read.

    FastAPI reads and parses a body (a sync of thousands of members) before it runs
    a route's dependencies, so without this an anonymous client could make the
    server parse megabytes of JSON, and a broken body would be a 422 rather than a
    401. The token found is left in the request's state for ``require``, which
    still decides the role (a 403 needs the route).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401/429 for a guarded path without a usable token; else pass on."""
        if scope["type"] != "http" or not is_guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            # The look-up is a blocking database call: off the event loop.
            token = await run_in_threadpool(
                authenticate,
                request.app.state,
                source_of(request),
                request.headers.get("authorization"),
            )
        except Problem as exc:
            response = problem_response(exc.kind, exc.detail, request, headers=exc.headers)
            await response(scope, receive, send)
            return
        request.state.token = token
        request.state.actor = actor_for(token)
        await self.app(scope, receive, send)


def require(role: Role) -> Callable[..., Caller]:
    """A dependency admitting tokens of ``role`` or larger; use as ``Depends(require(...))``."""

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),  # noqa: B008
    ) -> Caller:
        state = request.app.state
        # TokenGate authenticated it already; without the gate (an app built without
        # it), authenticate here.
        token: TokenRecord | None = getattr(request.state, "token", None)
        if token is None:
            header = f"Bearer {credentials.credentials}" if credentials else None
            token = authenticate(state, source_of(request), header)
        request.state.actor = actor_for(token)
        if not token.role.allows(role):
            raise Problem(
                FORBIDDEN, f"this needs the {role.label} role; the token is {token.role.label}"
            )
        admin = Admin(state.settings, state.sessions, actor_for(token))
        return Caller(token, admin)

    dependency.role = role  # type: ignore[attr-defined]
    return dependency


# The three dependencies every route picks from.
readonly = require(Role.READONLY)
operator = require(Role.OPERATOR)
admin_only = require(Role.ADMIN)
