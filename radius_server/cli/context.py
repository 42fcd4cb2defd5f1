"""What every command needs: settings, a database engine, the admin service layer.

Built lazily so that ``--help`` and pure commands never touch the database.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import ENV_PREFIX, Settings
from radius_server.rules.validation import MAX_ACTOR, clean_label
from radius_server.store import database
from radius_server.store.errors import DatabaseMissing

if TYPE_CHECKING:
    # Imported where used: ``serve`` needs none of the admin layer (cli/__init__.py).
    from radius_server.admin import Admin


def current_actor() -> str:
    """Who runs this command, for the audit trail (storable: no control characters)."""
    explicit = os.environ.get("RADIUS_ACTOR")
    if explicit:
        return clean_label(explicit, MAX_ACTOR)
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return clean_label(f"cli:{user}", MAX_ACTOR)


@dataclass
class AppContext:
    """Lazily built resources for one command invocation."""

    settings: Settings
    json_output: bool = False
    actor: str = field(default_factory=current_actor)
    # The config file the settings came from (see config.config_file_in_use).
    config_file: str | None = None
    # Only the commands meant to create a database (db upgrade, demo) set this:
    # any other on a missing SQLite file is a typo to report, not a database to make.
    may_create_database: bool = False

    def require_database(self, may_create: bool) -> None:
        """Refuse a missing SQLite file unless ``may_create``, saying where we looked.

        Raises:
            DatabaseMissing: naming the path, the setting that chose it, and the
                command that creates a database.
        """
        path = database.sqlite_file(self.settings.database_url_resolved())
        if path is None or may_create or path.exists():
            return
        raise DatabaseMissing(
            f"no database at {path} ({self._database_origin()}): check the path, or create "
            "it with 'radius-server db upgrade' (or try 'radius-server demo')"
        )

    def _database_origin(self) -> str:
        """Which setting, from where, chose the database file (for the message above)."""
        name = "database_url" if self.settings.database_url else "data_dir"
        if ENV_PREFIX + name.upper() in os.environ:
            return f"{name} from ${ENV_PREFIX}{name.upper()}"
        if name == "database_url" or self.settings.data_dir != Settings().data_dir:
            return f"{name} from {self.config_file}"
        if self.config_file:
            return f"the default data_dir: {self.config_file} does not set one"
        return (
            "the default data_dir: no --config, $RADIUS_CONFIG or ./radius-server.toml "
            "in this directory"
        )

    @cached_property
    def engine(self) -> Engine:
        """The database engine (on SQLite, an existing file unless may_create_database)."""
        self.require_database(self.may_create_database)
        return database.make_engine(
            self.settings.database_url_resolved(), timeout=self.settings.database_timeout
        )

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """A session factory on a database at the current schema (database.check_schema)."""
        from radius_server.admin import open_sessions

        return open_sessions(self.engine)

    @cached_property
    def admin(self) -> Admin:
        """The admin service layer, acting as this command's user."""
        from radius_server.admin import Admin

        return Admin(self.settings, self.sessions, self.actor)

    def close(self) -> None:
        """Release database connections."""
        if "engine" in self.__dict__:
            self.engine.dispose()
