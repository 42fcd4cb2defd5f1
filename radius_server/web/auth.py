"""Who is calling: bearer tokens, roles, and the limit on failed authentications.

Every route of the API declares the smallest role it needs with
``Depends(require(Role.X))``; tests enumerate the routes and prove each one
refuses no token, a revoked or expired token and a smaller role. Only the paths
in ``PUBLIC_PATHS`` (the API's description, which holds no data) are open.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from radius_server.admin import Admin
from radius_server.rules.roles import Role
from radius_server.store.tokens import TokenRecord
from radius_server.web.problems import FORBIDDEN, TOO_MANY_ATTEMPTS, UNAUTHORIZED, Problem

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
    """The client's address (uvicorn applies trusted proxies' X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def actor_for(token: TokenRecord) -> str:
    """How a token appears in the audit trail."""
    return f"token:{token.name}"


def require(role: Role) -> Callable[..., Caller]:
    """A dependency admitting tokens of ``role`` or larger; use as ``Depends(require(...))``."""

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),  # noqa: B008
    ) -> Caller:
        state = request.app.state
        source = source_of(request)
        wait = state.limiter.retry_after(source)
        if wait > 0:
            raise Problem(
                TOO_MANY_ATTEMPTS,
                "too many failed authentications from this address; try again later",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        if credentials is None:
            raise Problem(UNAUTHORIZED, "send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
        token = state.token_checker.authenticate(credentials.credentials)
        if token is None:
            state.limiter.fail(source)
            raise Problem(
                UNAUTHORIZED, "the token is unknown, revoked or expired", headers=_CHALLENGE
            )
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
