"""Engine and session set-up, and Alembic migrations applied from code."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from radius_server.private_files import create_private_file, make_private_dir
from radius_server.resources import migrations_dir
from radius_server.store.errors import SchemaNotReady
from radius_server.store.watchdog import Watchdog

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration shipped with this version (a test checks it against db/).
# Knowing it here spares every command the cost of loading Alembic.
HEAD_REVISION = "0012"

DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_SQLITE_BUSY_SECONDS = 10.0
MIGRATION_TIMEOUT_SECONDS = 600.0
# Beyond the server-side statement timeout, how long the watchdog waits before
# deciding the server is not answering at all.
WATCHDOG_GRACE_SECONDS = 1.0


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the server read while the admin CLI writes; busy_timeout makes a
        # writer wait for another writer instead of failing at once.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def temp_files_in_memory(engine: Engine) -> None:
    """SQLite: this engine's temporary files in memory (``PRAGMA temp_store=MEMORY``); no-op
    on PostgreSQL. Call before its first connection.

    For the accounting writer: it writes sessions one row per statement (executemany),
    and since migration 0012's triggers on ``sessions`` every such statement inside the
    batch's transaction keeps a statement journal (https://sqlite.org/tempfiles.html,
    "Statement Journal Files"), which cost 20-45 us a record more in a temporary file
    than in memory (bench/README.md). Only for engines whose statements touch a few
    pages each and sort nothing large: a big sort's temporary data would stay in RAM.
    """
    if engine.dialect.name != "sqlite":
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA temp_store=MEMORY")

    event.listen(engine, "connect", on_connect)


def _postgres_options(timeout: float | None) -> dict[str, Any]:
    """psycopg connection arguments that bound connecting and every statement."""
    args: dict[str, Any] = {
        # libpq counts whole seconds and treats less than 2 as 2.
        "connect_timeout": max(2, math.ceil(min(timeout or 1e9, DEFAULT_CONNECT_TIMEOUT))),
        # A host that vanished (power cut, network split) is noticed in about
        # idle + interval * count seconds instead of the kernel's two hours.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }
    if timeout is not None:
        ms = max(1, round(timeout * 1000))
        args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    return args


def sqlite_file(url: str) -> Path | None:
    """The file of a file-backed SQLite URL; None for PostgreSQL or in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def make_engine(url: str, *, timeout: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, and its file created private.

    ``timeout`` (seconds) bounds each statement: on PostgreSQL the server gives up
    after it (statement and lock timeouts) and a watchdog cuts a round trip that
    gets no answer one second later (a frozen server); on SQLite it is the busy
    timeout. ``None`` leaves statements unbounded (migrations, tests), but
    connecting is always bounded.

    The SQLite file holds every PIN and shared secret: it is created 0600 in a
    0700 directory before SQLite opens it (SQLite would use 0644 minus the umask),
    and SQLite gives its -wal/-shm/-journal files the database file's mode.
    Whether a missing file may be created at all is the caller's decision
    (see cli/context.py): an admin command on a mistyped path must not.
    """
    # Bound parameters (a PIN, a shared secret) never appear in an error's text.
    kwargs.setdefault("hide_parameters", True)
    path = sqlite_file(url)
    if path is not None:
        make_private_dir(path.parent)
        create_private_file(path)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        busy = DEFAULT_SQLITE_BUSY_SECONDS if timeout is None else timeout
        event.listen(engine, "connect", _sqlite_pragmas(round(busy * 1000)))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {}).update(_postgres_options(timeout))
    engine = create_engine(url, **kwargs)
    if timeout is not None:
        Watchdog(timeout + WATCHDOG_GRACE_SECONDS).attach(engine)
    return engine


def begin_write(session: Session) -> None:
    """Start a write transaction now; call first thing in a method that uses savepoints.

    pysqlite only opens a transaction at the first INSERT/UPDATE, so a SAVEPOINT
    issued before it becomes the outermost one and its RELEASE commits at once:
    later statements of the same method would land in a second transaction. On
    SQLite we therefore ``BEGIN IMMEDIATE`` (which also takes the write lock,
    waiting up to busy_timeout); PostgreSQL needs nothing.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """An Alembic Config pointing at our packaged ``db/`` scripts and this engine."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    from alembic import command

    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    # A migration may rewrite a big table: it gets its own, longer bound.
    url = engine.url.render_as_string(hide_password=False)
    migrating = make_engine(url, timeout=MIGRATION_TIMEOUT_SECONDS)
    try:
        command.upgrade(alembic_config(migrating), revision)
    finally:
        migrating.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision(engine: Engine) -> str | None:
    """The newest revision shipped with this version."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    """True when the schema is at the newest revision."""
    return current_revision(engine) == HEAD_REVISION


def check_schema(engine: Engine) -> None:
    """Make sure the schema is current: SQLite migrates itself, PostgreSQL must be upgraded.

    The embedded SQLite default migrates on first use, so a new box works at once;
    PostgreSQL is shared by several servers, so its schema moves only on an explicit
    ``radius-server db upgrade``. The one schema check of the server and every command.

    Raises:
        SchemaNotReady: PostgreSQL below the newest revision.
    """
    if is_up_to_date(engine):
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise SchemaNotReady("the database schema is not up to date: run 'radius-server db upgrade'")


def has_schema(engine: Engine) -> bool:
    """True when the customers table exists."""
    return inspect(engine).has_table("customers")
