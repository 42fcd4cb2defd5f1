"""Helpers for tests of the web pages through FastAPI's TestClient (httpx).

``PageSite`` is the application on one database with a way to add staff and
sign a client in; page helpers' tests use it for their own pages.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from radius_server.admin import Admin, open_sessions
from radius_server.config import Settings, load_settings
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.web.app import create_app

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def all_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, through included routers (FastAPI includes lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            inner = prefix + getattr(route.include_context, "prefix", "")
            yield from all_routes(route.original_router.routes, inner)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a csrf_token"
    return found.group(1)


@dataclasses.dataclass
class PageSite:
    """The web application on one database, with staff accounts made through the admin layer."""

    app: FastAPI
    engine: Engine
    settings: Settings
    admin: Admin

    def client(self, *, https: bool = False, source: str = "testclient") -> TestClient:
        """A browser-like client (cookies kept, redirects not followed)."""
        base = "https://testserver" if https else "http://testserver"
        return TestClient(self.app, base_url=base, follow_redirects=False, client=(source, 50000))

    def add_staff(self, email: str, role: Role, password: str | None = PASSWORD) -> None:
        """A staff account (with ``password`` unless None)."""
        self.admin.staff.add(email, role, password)

    def sign_in(self, client: TestClient, email: str, password: str = PASSWORD) -> Any:
        """Post the sign-in form as a browser would (GET it first for the CSRF cookie)."""
        form = client.get("/staff/sign-in")
        return client.post(
            "/staff/sign-in",
            data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        )

    def signed_in(self, email: str, role: Role, **kwargs: Any) -> TestClient:
        """A client signed in as a new account ``email`` with ``role``."""
        self.add_staff(email, role)
        client = self.client(**kwargs)
        response = self.sign_in(client, email)
        assert response.status_code == 303, response.text
        return client


def page_settings(url: str, **overrides: Any) -> Settings:
    """Default settings on ``url`` (no config file, no RADIUS_* from the environment)."""
    base = load_settings(os.devnull, environ={})
    return dataclasses.replace(base, database_url=url, **overrides)


@contextmanager
def page_site(url: str, **overrides: Any) -> Iterator[PageSite]:
    """The application on the migrated database ``url``."""
    settings = page_settings(url, **overrides)
    engine = database.make_engine(settings.database_url_resolved())
    try:
        app = create_app(settings, engine)
        yield PageSite(app, engine, settings, Admin(settings, open_sessions(engine), "test"))
    finally:
        engine.dispose()
