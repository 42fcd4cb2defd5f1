"""Changes watched, not polled, on SQLite: each loop woken only for writes to its table.

SQLite has no notifications. Without this, every background loop (directory,
guessing protection, sessions, disconnects) read its table every
``sync_interval``: about 35 ms of CPU per second on an idle server, and a
thread and the interpreter's caches disturbed 16 times a second while
answering. ``PRAGMA data_version`` on a connection of its own changes whenever
any other connection (the admin CLI, the web pages, this server's own writers)
commits to the database file (https://sqlite.org/pragma.html#pragma_data_version),
so a thread asks it every tick (about 4 us).

The version cannot tell the tables apart, and most commits are the server's own
writes of tables nobody follows (recent decisions, every interval) or of its own
guessing-protection events: waking all four loops for each cost about 1.1 ms of
CPU per served resumed EAP sign-in (bench/README.md). So when the version moved,
one statement (one snapshot, about 6 us at 100,000 rows a table) reads a mark
per channel, and only the channels whose mark moved are woken, as PostgreSQL's
triggers of migration 0011 notify one channel per table:

- ``changes`` -> directory, ``disconnect_jobs`` -> disconnector: written by
  INSERT only, keys AUTOINCREMENT, so ``max()`` of the key (one b-tree seek)
  moves on every insert by any writer and never goes back
  (https://sqlite.org/autoinc.html). No trigger, nothing paid by writers.
- ``throttle_events`` -> guard: the same key, and whether any row after the
  last one seen comes from another instance (a range scan of the new rows
  only): this server's own events wake nobody, as on PostgreSQL.
- ``sessions`` -> follower: rows are updated in place, which moves no key, and
  ``changed_at`` is the writer's clock taken before its commit, so a row stamped
  earlier can become visible after a later one and a ``max(changed_at)`` mark
  would miss it (the follower on another ``--workers`` process would count that
  device up to ``sync_safety_interval`` late). Exact for every writer only with
  triggers: migration 0012 bumps a counter in ``watch_marks`` on each INSERT
  and UPDATE of a session (store/watch_marks.py). With triggers, each one-row
  statement of the accounting writer keeps a statement journal: serve keeps that
  writer's in memory (``database.temp_files_in_memory``), leaving up to 15 us per
  record written, 80-100 us without (bench/sqlite_watch_cost.py).

The loops keep reading every ``safety`` seconds, and every ``fast`` seconds
while the watcher cannot read the file; a busy file, and start, wake all of
them (docs/architecture.md, "Changes pushed, not polled").
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from radius_server.runtime.listener import CHANGES, DISCONNECTS, SESSIONS, THROTTLE, WakeupSource
from radius_server.store.watch_marks import MARKS_TABLE, SESSIONS_MARK

# A lock held for a moment, not a lost file.
BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

# Every mark in one statement, so from one snapshot of the file. ``:after``: the
# newest guessing-protection event seen; ``:me``: this server's instance. Names
# from our constants, values bound.
MARKS_QUERY = f"""
SELECT (SELECT max(seq) FROM changes),
       (SELECT max(id) FROM disconnect_jobs),
       (SELECT mark FROM {MARKS_TABLE} WHERE channel = '{SESSIONS_MARK}'),
       (SELECT max(seq) FROM throttle_events),
       EXISTS (SELECT 1 FROM throttle_events WHERE seq > :after AND instance <> :me)
"""  # noqa: S608
# Larger than any key: the first look needs no scan (starting wakes every loop anyway).
NO_EVENT_YET = 2**63 - 1


class Marks(NamedTuple):
    """What the watcher compares between two looks (None: an empty table)."""

    changes: int | None
    disconnects: int | None
    sessions: int | None
    throttle: int | None
    # Another instance wrote a guessing-protection event after the previous look's.
    foreign_throttle: bool

    def moved_since(self, old: Marks) -> set[str]:
        """The channels written to between ``old`` and these marks."""
        moved = set()
        if self.changes != old.changes:
            moved.add(CHANGES)
        if self.disconnects != old.disconnects:
            moved.add(DISCONNECTS)
        if self.sessions != old.sessions:
            moved.add(SESSIONS)
        # Fewer events than seen: the table was emptied and refilled (keys reused).
        if self.foreign_throttle or (self.throttle or 0) < (old.throttle or 0):
            moved.add(THROTTLE)
        return moved


class SqliteWatcher(WakeupSource):
    """Wakes the loops whose table has a new commit in the SQLite file at ``path``.

    Looks every ``tick`` seconds, on a connection that never writes and never
    waits for a lock (a busy database counts as changed: every loop is woken and
    reads with its own deadlines). ``instance``: this server's name in
    ``throttle_events``; its own events wake nobody. Logs ``watch_started``,
    ``watch_lost``, ``watch_failed`` (once per outage) and ``watch_stopped``.
    """

    thread_name = "sqlite-watch"
    event_prefix = "watch"

    def __init__(self, path: Path, log: Any, *, tick: float, instance: str = "") -> None:
        super().__init__(log)
        self.path = path
        self.tick = tick
        self.instance = instance
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
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
        return self._conn

    def _version(self) -> int:
        """The file's data version as this connection sees it; raises sqlite3.Error."""
        return int(self._connection().execute("PRAGMA data_version").fetchone()[0])

    def _marks(self, old: Marks | None) -> Marks:
        """The marks now (``old``: the previous look's); raises sqlite3.Error."""
        after = NO_EVENT_YET if old is None else (old.throttle or 0)
        row = (
            self._connection()
            .execute(MARKS_QUERY, {"after": after, "me": self.instance})
            .fetchone()
        )
        return Marks(row[0], row[1], row[2], row[3], bool(row[4]))

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _run(self) -> None:
        seen: int | None = None  # the data version the marks were read at
        marks: Marks | None = None
        while not self._stopping.is_set():
            try:
                version = self._version()
                # Nothing committed since the last look (the common case): no read.
                unchanged = self.listening and version == seen
                new = marks if unchanged else self._marks(marks)
            except sqlite3.Error as exc:
                code = getattr(exc, "sqlite_errorcode", 0)  # extended codes included
                if (code & 0xFF) in BUSY and self.listening:
                    # Locked for a moment (a checkpoint, a recovery): maybe changed. The
                    # marks stay as they were, so the next look compares from them again.
                    self._hand_over(None)
                else:
                    self._close()
                    seen = marks = None  # versions of a new connection are not comparable
                    self._down(exc)
            else:
                if not self.listening:
                    self._up(database=str(self.path))  # wakes every loop
                elif marks is not None and new is not None and new is not marks:
                    moved = new.moved_since(marks)
                    if moved:
                        self._hand_over(moved)
                seen, marks = version, new
            self._pause(self.tick)
        self._close()
        self._stopped()
