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
from typing import Any

from sqlalchemy import Engine

# The dialect methods through which every round trip passes (with do_ping); their
# first argument is a DBAPI cursor or connection.
_GUARDED = ("do_execute", "do_execute_no_params", "do_executemany", "do_commit", "do_rollback")


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
        self._error: type[Exception] = OSError
        self.fired = 0

    def attach(self, engine: Engine) -> None:
        """Guard the round trips of ``engine``'s dialect (one dialect per engine)."""
        dialect = engine.dialect
        self._error = dialect.dbapi.OperationalError  # type: ignore[union-attr]
        for name in (*_GUARDED, "do_ping"):
            setattr(dialect, name, self._guard(getattr(dialect, name)))

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
        with self._cond:
            self._armed[token] = (time.monotonic() + self.limit, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="db-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return token

    def _disarm(self, token: object) -> bool:
        """Forget the deadline; False when it had already fired."""
        with self._cond:
            return self._armed.pop(token, None) is not None

    def _watch(self) -> None:
        with self._cond:
            while True:
                if not self._armed:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = min(deadline for deadline, _ in self._armed.values())
                if due > now:
                    self._cond.wait(due - now)
                    continue
                for token, (deadline, connection) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        self.fired += 1
                        _shutdown(connection)
