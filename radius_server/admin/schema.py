"""The database schema as admins see it: its revision, upgrades, the check before use.

The check itself is ``store.database.check_schema``, the one the server runs at
start-up: SQLite migrates itself, PostgreSQL waits for ``db upgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store import database


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
