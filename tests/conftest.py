"""Shared fixtures: databases (SQLite and the real PostgreSQL), the console script, tools.

Rule: a test that needs PostgreSQL or a Debian tool skips with a reason on a
developer's machine, but under ``CI=true`` the same condition FAILS, so CI can
never pass by skipping. The hooks below enforce it for every kind of skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get(
    "RADIUS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROOT = Path(__file__).resolve().parent.parent


def _skip_reason(longrepr: object) -> str:
    # A skip's longrepr is (file, line, "Skipped: reason"); anything else, as text.
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true any skip fails: skip/skipif markers, pytest.skip, importorskip.

    The rule must not depend on each test calling ``skip_or_fail``. An expected
    failure (xfail) is not a skip and is left alone.
    """
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"CI=true and the test was skipped: {_skip_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """The same rule for a whole module skipped while collecting (module-level skip)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"CI=true and the module was skipped: {_skip_reason(report.longrepr)}"


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail in CI, where every prerequisite must be present."""
    if IN_CI:
        pytest.fail(f"CI=true and a prerequisite is missing: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Path of a Debian tool (radclient, eapol_test...), or skip/fail."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (apt-get install the package .ci/run names)")
    return path


def console_script() -> str:
    """The installed ``radius-server`` script next to this interpreter."""
    candidate = Path(sys.executable).parent / "radius-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("radius-server")
    if found is None:
        pytest.fail("the radius-server console script is not installed (pip install -e .)")
    return found


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the real PostgreSQL, verified reachable."""
    try:
        import psycopg

        with psycopg.connect(_pg_dsn(PG_ADMIN_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "no PostgreSQL here"
        skip_or_fail(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    return PG_ADMIN_URL


def create_pg_database(admin_url: str) -> str:
    """Create a throw-away database; return its SQLAlchemy URL."""
    import psycopg

    name = f"radius_test_{secrets.token_hex(6)}"
    with psycopg.connect(_pg_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, url: str) -> None:
    """Drop a database made by create_pg_database, disconnecting stragglers."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_pg_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = create_pg_database(pg_server)
    try:
        yield url
    finally:
        drop_pg_database(pg_server, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'radius.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run a test on both back ends: SQLite and the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'radius.db'}"
        return
    admin = request.getfixturevalue("pg_server")
    url = create_pg_database(admin)
    try:
        yield url
    finally:
        drop_pg_database(admin, url)


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """``db_url`` with the schema applied through the real migrations."""
    from radius_server.store import database

    engine = database.make_engine(db_url)
    database.upgrade(engine)
    engine.dispose()
    return db_url


def ensure_database(database_url: str) -> None:
    """Create and migrate a missing SQLite file, as an admin's ``db upgrade`` would.

    Admin commands refuse a missing SQLite file (a mistyped path must not become
    an empty database), so the helpers that run them prepare it first.
    """
    from radius_server.store import database

    path = database.sqlite_file(database_url)
    if path is None or path.exists():
        return
    engine = database.make_engine(database_url)
    try:
        database.upgrade(engine)
    finally:
        engine.dispose()


@dataclass
class CliResult:
    """What a run of the console script returned."""

    code: int
    out: str
    err: str


class Cli:
    """Runs the real ``radius-server`` console script against one database."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        ensure_database(database_url)
        self.env = {
            **os.environ,
            "RADIUS_DATABASE_URL": database_url,
            "RADIUS_DATA_DIR": str(tmp_path / "data"),
            "RADIUS_LOG_FORMAT": "json",
            # A server started through the CLI binds /metrics on any free port, never 9812.
            "RADIUS_METRICS_PORT": "0",
        }
        # An empty config file: a ./radius-server.toml in the checkout (run.sh writes one)
        # must not reach the tests.
        self.env["RADIUS_CONFIG"] = os.devnull

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliResult:
        proc = subprocess.run(
            [console_script(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(migrated_url: str, tmp_path: Path) -> Cli:
    """The console script on a migrated database (SQLite and PostgreSQL)."""
    return Cli(migrated_url, tmp_path)


@pytest.fixture
def sqlite_cli(sqlite_url: str, tmp_path: Path) -> Cli:
    """The console script on a fresh SQLite file (migrates itself on first use)."""
    return Cli(sqlite_url, tmp_path)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per test module and back end: cheaper than one per test.

    Use it through ``clean_db_url``, which empties every table before each test.
    """
    from radius_server.store import database

    admin: str | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('shared') / 'radius.db'}"
    else:
        admin = request.getfixturevalue("pg_server")
        url = create_pg_database(admin)
    try:
        engine = database.make_engine(url)
        database.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        if admin is not None:
            drop_pg_database(admin, url)


@pytest.fixture
def clean_db_url(shared_db_url: str) -> str:
    """``shared_db_url`` with every table emptied and ids restarted, for one test."""
    from sqlalchemy import inspect, text

    from radius_server.store import database
    from radius_server.store.models import Base

    engine = database.make_engine(shared_db_url)
    try:
        tables = list(reversed(Base.metadata.sorted_tables))
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                quoted = ", ".join(f'"{table.name}"' for table in tables)
                conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
                if inspect(conn).has_table("sqlite_sequence"):
                    conn.execute(text("DELETE FROM sqlite_sequence"))
    finally:
        engine.dispose()
    return shared_db_url


@pytest.fixture
def clean_sessions(clean_db_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on ``clean_db_url`` (both back ends), disposed after the test."""
    from radius_server.store import database

    engine = database.make_engine(clean_db_url)
    try:
        yield database.make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def clean_cli(clean_db_url: str, tmp_path: Path) -> Cli:
    """Like ``cli`` (both back ends, migrated), on the emptied per-module database."""
    return Cli(clean_db_url, tmp_path)
