"""What every command needs: settings, a database engine, repositories.

Built lazily so that ``--help`` and pure commands never touch the database.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import Settings
from radius_server.store import database
from radius_server.store.clients import ClientRepository
from radius_server.store.customers import CustomerRepository
from radius_server.store.errors import SchemaNotReady


def current_actor() -> str:
    """Who runs this command, for the audit trail."""
    explicit = os.environ.get("RADIUS_ACTOR")
    if explicit:
        return explicit
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


@dataclass
class AppContext:
    """Lazily built resources for one command invocation."""

    settings: Settings
    json_output: bool = False
    actor: str = field(default_factory=current_actor)

    @cached_property
    def engine(self) -> Engine:
        """The database engine."""
        return database.make_engine(
            self.settings.database_url_resolved(), timeout=self.settings.database_timeout
        )

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """A session factory on a database at the current schema.

        The embedded SQLite default migrates itself on first use, so a new box
        works at once; PostgreSQL is shared by several servers, so its schema
        moves only on an explicit ``radius-server db upgrade``.
        """
        if not database.is_up_to_date(self.engine):
            if self.engine.dialect.name == "sqlite":
                database.upgrade(self.engine)
            else:
                raise SchemaNotReady(
                    "the database schema is not up to date: run 'radius-server db upgrade'"
                )
        return database.make_session_factory(self.engine)

    @cached_property
    def customers(self) -> CustomerRepository:
        """Customer repository acting as this command's user."""
        return CustomerRepository(self.sessions, actor=self.actor)

    @cached_property
    def clients(self) -> ClientRepository:
        """RADIUS client repository acting as this command's user."""
        return ClientRepository(self.sessions, actor=self.actor)

    def close(self) -> None:
        """Release database connections."""
        if "engine" in self.__dict__:
            self.engine.dispose()
