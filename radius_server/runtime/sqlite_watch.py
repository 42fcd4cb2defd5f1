"""Changes watched, not polled, on SQLite: one cheap look per tick instead of four reads.

SQLite has no notifications. Without this, every background loop (directory,
guessing protection, sessions, disconnects) read its table every
``sync_interval``: about 35 ms of CPU per second on an idle server, and a
thread and the interpreter's caches disturbed 16 times a second while
answering. ``PRAGMA data_version`` on a connection of its own changes whenever
any other connection (the admin CLI, the web pages, this server's own writers)
commits to the database file (https://sqlite.org/pragma.html#pragma_data_version),
so a thread asks it every tick and wakes the loops only when it moved. The
loops keep reading every ``safety`` seconds, and every ``fast`` seconds while
the watcher cannot read the file (docs/architecture.md, "Changes pushed, not
polled").
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from radius_server.runtime.listener import WakeupSource

# A lock held for a moment, not a lost file.
BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteWatcher(WakeupSource):
    """Wakes every registered loop when the SQLite file at ``path`` has a new commit.

    Looks every ``tick`` seconds, on a connection that never writes and never
    waits for a lock (a busy database counts as changed: the loops read with
    their own deadlines). Logs ``watch_started``, ``watch_lost``, ``watch_failed``
    (once per outage) and ``watch_stopped``.
    """

    thread_name = "sqlite-watch"
    event_prefix = "watch"

    def __init__(self, path: Path, log: Any, *, tick: float) -> None:
        super().__init__(log)
        self.path = path
        self.tick = tick
        self._conn: sqlite3.Connection | None = None

    def _version(self) -> int:
        """The file's data version as this connection sees it; raises sqlite3.Error."""
        if self._conn is None:
            # mode=rw: a missing file is an error here, never a new empty database.
            self._conn = sqlite3.connect(
                # Quoted: a "?" or "#" in the path would end it in a URI.
                f"file:{quote(str(self.path))}?mode=rw",
                uri=True,
                timeout=0,
                isolation_level=None,
                check_same_thread=False,
            )
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _run(self) -> None:
        seen: int | None = None
        while not self._stopping.is_set():
            try:
                version = self._version()
            except sqlite3.Error as exc:
                code = getattr(exc, "sqlite_errorcode", 0)  # extended codes included
                if (code & 0xFF) in BUSY and self.listening:
                    # Locked for a moment (a checkpoint, a recovery): maybe changed.
                    self._hand_over(None)
                else:
                    self._close()
                    self._down(exc)
            else:
                if not self.listening:
                    self._up(database=str(self.path))
                elif version != seen:
                    self._hand_over(None)
                seen = version
            self._pause(self.tick)
        self._close()
        self._stopped()
