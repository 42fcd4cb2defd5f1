"""Wires the server's background loops to what wakes them: PostgreSQL notifications
(runtime/listener.py) or, on SQLite, the database file's data version
(runtime/sqlite_watch.py).

Which loop follows which channel, how fast each polls while nothing wakes it,
and when a loop must poll fast anyway (its database work is failing, or it has
work of its own in flight). None of it with ``sync_notify`` off: every loop polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url
from sqlalchemy.pool import NullPool

from radius_server.config import Settings
from radius_server.runtime.listener import (
    CHANGES,
    DISCONNECTS,
    SESSIONS,
    THROTTLE,
    Listener,
    WakeupSource,
)
from radius_server.runtime.sqlite_watch import SqliteWatcher
from radius_server.store import database

if TYPE_CHECKING:
    from radius_server.runtime.disconnector import Disconnector
    from radius_server.runtime.guard import Guard
    from radius_server.runtime.online import SessionFollower
    from radius_server.runtime.sync import DirectorySync


def notifications_available(settings: Settings, url: str) -> bool:
    """True when the server should LISTEN: PostgreSQL, and the setting on."""
    return settings.sync_notify and make_url(url).get_backend_name() == "postgresql"


def _connector(url: str, timeout: float) -> Any:
    """A function returning a new psycopg connection with the engines' bounds
    (connect timeout, keepalives, statement timeout: store/database.py)."""
    engine = database.make_engine(url, timeout=timeout, poolclass=NullPool)

    def connect() -> Any:
        proxy = engine.raw_connection()
        conn = proxy.driver_connection
        # Detached from the pool: the listener owns (and closes) the connection.
        proxy.detach()
        return conn

    return connect


def _source(settings: Settings, url: str, log: Any, guard: Guard) -> WakeupSource | None:
    """PostgreSQL's Listener, SQLite's watcher, or None (the loops poll)."""
    if notifications_available(settings, url):
        return _pg_listener(settings, url, log, guard)
    path = database.sqlite_file(url)
    if settings.sync_notify and path is not None:
        # Every tick, as often as the loops polled: one PRAGMA instead of four reads,
        # and this process's own throttle events wake nobody, as on PostgreSQL.
        return SqliteWatcher(path, log, tick=settings.sync_interval, instance=_instance(guard))
    return None


def _instance(guard: Guard) -> str:
    """This process's name in ``throttle_events`` ("" without a shared log: none ignored)."""
    return guard.store.instance if guard.store is not None else ""


def _pg_listener(settings: Settings, url: str, log: Any, guard: Guard) -> Listener:
    safety = settings.sync_safety_interval
    return Listener(
        _connector(url, settings.database_timeout),
        log,
        # A quiet connection is checked this often: a frozen database is noticed
        # (and reported by the loops) within seconds, as when they polled.
        health_interval=min(2.0, safety),
        answer_timeout=min(3.0, settings.database_timeout),
        # This process's own throttle events wake nobody: they are applied already.
        ignore={THROTTLE: _instance(guard)},
    )


def make_listener(
    settings: Settings,
    url: str,
    log: Any,
    *,
    sync: DirectorySync,
    guard: Guard,
    follower: SessionFollower,
    disconnector: Disconnector,
) -> WakeupSource | None:
    """What wakes each loop (not started), or None when the server polls."""
    listener = _source(settings, url, log, guard)
    if listener is None:
        return None
    fast, safety = settings.sync_interval, settings.sync_safety_interval
    # The directory reads at once on every notification (PIN changes reach every
    # instance within milliseconds); it polls fast while its reads fail.
    sync.wake = listener.wakeup(
        CHANGES,
        fast,
        safety,
        urgent=lambda: sync.directory.degraded or sync.cursor.needs_full_reload,
    )
    # The others keep at most the polling rate under load (a notification per
    # write of a busy table must not mean a read per write).
    guard.wake = listener.wakeup(
        THROTTLE,
        fast,
        safety,
        min_gap=fast,
        urgent=lambda: guard.degraded or bool(guard.outbox.pending),
    )
    follower.wake = listener.wakeup(
        SESSIONS, fast, safety, min_gap=fast, urgent=lambda: follower.degraded
    )
    disconnector.wake = listener.wakeup(
        DISCONNECTS,
        fast,
        safety,
        min_gap=fast,
        urgent=lambda: disconnector.failing or disconnector.busy > 0,
    )
    return listener
