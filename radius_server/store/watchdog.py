"""A deadline on every round trip to PostgreSQL, even when the server is frozen.

``statement_timeout`` makes a live but slow server give up, and TCP keepalives
notice a host that is gone. Neither helps when the database's processes are
stopped (SIGSTOP, a paused VM, a storage stall): the kernel keeps acknowledging,
so the client waits in poll() forever. The watchdog arms a deadline around each
round trip (execute, commit, rollback, ping) and, when it passes, shuts down that
connection's socket: the waiting call fails at once, the pool discards the
connection, and the caller gets an OperationalError saying no answer came.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

# The dialect methods through which every round trip passes (with do_ping); their
# first argument is a DBAPI cursor or connection.
_GUARDED = ("do_execute", "do_execute_no_params", "do_executemany", "do_commit", "do_rollback")


# The attribute of a guarded dialect that holds its watchdog.
_ATTRIBUTE = "radius_watchdog"


def guard(dialect: Dialect, connection: Any, call: Callable[[], T]) -> T:
    """``call()`` under the watchdog of ``dialect``'s engine, if it has one.

    For work done on the driver connection directly (a psycopg pipeline), which
    the guarded dialect methods do not see.
    """
    watchdog: Watchdog | None = getattr(dialect, _ATTRIBUTE, None)
    return call() if watchdog is None else watchdog.run(connection, call)


def guard_driver(conn: Connection, raw: Any, call: Callable[[], T]) -> T:
    """``guard`` for work on ``raw``, the driver connection behind ``conn``.

    The driver's errors come out as SQLAlchemy's ``DBAPIError``, as from any
    statement, so callers catch, retry and count them the same way; a connection
    the error broke is invalidated, so the pool does not hand it out again.
    """
    dialect = conn.dialect
    # The driver's base error (psycopg.Error), without importing the driver here.
    error: type[Exception] = dialect.dbapi.Error  # type: ignore[union-attr]
    try:
        return guard(dialect, raw, call)
    except error as exc:
        broken = bool(raw.closed or raw.broken)
        if broken:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None,
            None,
            exc,
            error,
            hide_parameters=True,
            connection_invalidated=broken,
            dialect=dialect,
        ) from exc


def _dbapi_connection(handle: Any) -> Any:
    """The psycopg connection behind a cursor, a pool's fairy, or itself."""
    handle = getattr(handle, "dbapi_connection", handle)  # pool _ConnectionFairy
    # A cursor's .connection is its connection; a psycopg connection's is itself.
    return getattr(handle, "connection", handle)


def _shutdown(connection: Any) -> None:
    """Shut the connection's socket down so a call blocked on it returns with an error."""
    # A duplicate of the descriptor: shutdown() acts on the shared socket, and
    # closing the duplicate leaves the driver's descriptor alone. Already closed
    # or broken: nothing blocks on it.
    with (
        contextlib.suppress(Exception),
        socket.socket(fileno=os.dup(connection.fileno())) as sock,
    ):
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Cuts any round trip on its engine that takes longer than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._armed: dict[object, tuple[float, Any]] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # When the watcher wakes next (monotonic): an arm whose deadline is later needs
        # no notify. Every deadline is now + limit, so arms almost never wake it: a
        # notify per round trip cost a thread wake-up and a GIL hand-off each.
        self._wake_at = 0.0
        self._error: type[Exception] = OSError
        self.fired = 0

    def attach(self, engine: Engine) -> None:
        """Guard the round trips of ``engine``'s dialect (one dialect per engine)."""
        dialect = engine.dialect
        self._error = dialect.dbapi.OperationalError  # type: ignore[union-attr]
        for name in (*_GUARDED, "do_ping"):
            setattr(dialect, name, self._guard(getattr(dialect, name)))
        setattr(dialect, _ATTRIBUTE, self)

    def run(self, connection: Any, call: Callable[[], T]) -> T:
        """``call()``, work on the driver ``connection`` outside the dialect, under one deadline."""
        return self._guard(lambda _handle: call())(connection)  # type: ignore[no-any-return]

    def _guard(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(handle: Any, *args: Any, **kwargs: Any) -> Any:
            connection = _dbapi_connection(handle)
            token = self._arm(connection)
            try:
                result = call(handle, *args, **kwargs)
            except Exception as exc:
                if self._disarm(token):
                    raise
                # Cut by us: close it for good (the pool then sees a disconnect)
                # and say why, instead of "server closed the connection".
                with contextlib.suppress(Exception):
                    connection.close()
                raise self._error(f"no answer from the database within {self.limit:g} s") from exc
            if not self._disarm(token):  # cut just as the answer came: the socket is gone
                with contextlib.suppress(Exception):
                    connection.close()
            return result

        return guarded

    def _arm(self, connection: Any) -> object:
        token = object()
        deadline = time.monotonic() + self.limit
        with self._cond:
            self._armed[token] = (deadline, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="db-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()
        return token

    def _disarm(self, token: object) -> bool:
        """Forget the deadline; False when it had already fired."""
        with self._cond:
            return self._armed.pop(token, None) is not None

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                # Nothing armed: look again in ``limit`` seconds, before any deadline
                # armed meanwhile (now + limit or later) can pass.
                due = min(
                    (deadline for deadline, _ in self._armed.values()), default=now + self.limit
                )
                if due > now:
                    self._wake_at = due
                    self._cond.wait(due - now)
                    continue
                for token, (deadline, connection) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        self.fired += 1
                        _shutdown(connection)
