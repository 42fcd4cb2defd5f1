"""The ASGI application of ``radius-server web``: one per process, on one database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from radius_server import __version__
from radius_server.admin import Admin, open_sessions
from radius_server.config import Settings
from radius_server.store import database
from radius_server.web import pages, problems
from radius_server.web.access_log import AccessLog
from radius_server.web.api import api_router
from radius_server.web.auth import FailureLimiter, TokenGate

# Checks tokens; its actor is never used (authenticating writes no audit row).
_CHECKER_ACTOR = "web"

DESCRIPTION = """\
Manage the members, PINs, access points, sessions and lockouts of a radius-server.

Authenticate with `Authorization: Bearer <token>`; make tokens with
`radius-server token create NAME --role readonly|operator|admin`. Errors are
RFC 9457 problem details whose `type` is stable (`urn:radius-server:problem:*`).
"""


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The application; ``engine`` given: it is the caller's (tests), else one is made.

    The database must be migrated (``radius-server db upgrade``): checked here, so a
    wrong database stops the process at start rather than failing every request.
    """
    owned = engine is None
    if engine is None:
        engine = database.make_engine(
            settings.database_url_resolved(), timeout=settings.database_timeout
        )
    sessions = open_sessions(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            engine.dispose()

    app = FastAPI(
        title="radius-server API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        # Under /api/v1 like the docs (auth.PUBLIC_PATHS), not FastAPI's /docs/...
        swagger_ui_oauth2_redirect_url="/api/v1/docs/oauth2-redirect",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.token_checker = Admin(settings, sessions, _CHECKER_ACTOR).tokens
    app.state.limiter = FailureLimiter(settings.web_auth_failures, settings.web_auth_window)
    problems.install(app)
    app.include_router(api_router)
    # The web pages (HTML, sessions, CSRF): web/pages/, docs/architecture.md "Web pages".
    pages.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Alive (no database access, no data): for a load balancer or systemd."""
        return {"status": "ok"}

    # Inside AccessLog (added after it), so its refusals are logged too.
    app.add_middleware(TokenGate)
    app.add_middleware(AccessLog)
    return app
