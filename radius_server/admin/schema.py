"""The database schema as admins see it: its revision, upgrades, the check before use.

The check itself is ``store.database.check_schema``, the one the server runs at
start-up: SQLite migrates itself, PostgreSQL waits for ``db upgrade``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from radius_server.runtime.bounded import describe_error
from radius_server.store import database
from radius_server.store.errors import DatabaseMissing
from radius_server.store.records import ClientRecord


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where the schema is (None: never migrated) against the newest this version ships."""

    revision: str | None
    head: str | None
    backend: str

    @property
    def up_to_date(self) -> bool:
        """True when nothing is left to migrate."""
        return self.revision == self.head


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    """What ``check-config`` found: problems (none: ready to serve), clients, warnings."""

    problems: tuple[str, ...]
    clients: int = 0
    warnings: tuple[str, ...] = ()


def check_database(
    engine: Callable[[], Engine], clients: Callable[[], list[ClientRecord]]
) -> DatabaseCheck:
    """Is the database reachable, migrated, and does it allow at least one client?

    ``engine`` and ``clients`` are called lazily: a missing database or an
    unreachable server becomes a problem to report, not an exception.
    """
    try:
        if not database.is_up_to_date(engine()):
            return DatabaseCheck(
                ("database schema is not up to date: run 'radius-server db upgrade'",)
            )
    except DatabaseMissing as exc:
        return DatabaseCheck((str(exc),))
    except Exception as exc:  # report any connection failure as one line
        # The driver's message says why (refused, unknown database, bad password);
        # such messages name the user and host, never the password.
        return DatabaseCheck(
            (f"database unreachable: {type(exc).__name__}: {describe_error(exc)}",)
        )
    found = clients()
    problems = () if found else ("no RADIUS clients: add one with 'radius-server nas add'",)
    warnings = tuple(
        f"client {client.name} does not require Message-Authenticator (BlastRADIUS)"
        for client in found
        if not client.require_message_authenticator
    )
    return DatabaseCheck(problems, len(found), warnings)


def open_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine`` once its schema is current (SchemaNotReady otherwise)."""
    database.check_schema(engine)
    return database.make_session_factory(engine)


def schema_status(engine: Engine) -> SchemaStatus:
    """The schema's revision and the newest one."""
    return SchemaStatus(
        database.current_revision(engine), database.head_revision(engine), engine.dialect.name
    )


def upgrade_schema(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; return the revision reached."""
    database.upgrade(engine, revision)
    return database.current_revision(engine)
