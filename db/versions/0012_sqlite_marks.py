"""sqlite marks: a write to sessions wakes only the session follower (SQLite)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

On SQLite a server watches the file's ``PRAGMA data_version``, which moves on every
commit to any table: every batch of the server's own writes (recent decisions, its
guessing-protection events) woke all four background loops, each reading its table.
The watcher now wakes only the loops whose table moved, by marks read after the
version moved (runtime/sqlite_watch.py). Inserts move the AUTOINCREMENT keys of
``changes``, ``throttle_events`` and ``disconnect_jobs``; an update of a session moves
nothing, so triggers bump a per-channel counter in ``watch_marks`` on every INSERT and
UPDATE of ``sessions``, by any writer (the CLI, the web API, other workers, plain SQL),
as migration 0011's triggers notify on PostgreSQL. SQLite triggers run per row: up to
15 us per session record the accounting writer writes (80-100 us), whose statement
journals serve keeps in memory (docs/architecture.md, "Changes pushed, not polled").
PostgreSQL: nothing (it notifies).
"""

from __future__ import annotations

from alembic import op

from radius_server.store.watch_marks import MARKS_TABLE, SESSIONS_MARK

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TRIGGERS = (("sessions_mark_insert", "INSERT"), ("sessions_mark_update", "UPDATE"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE TABLE {MARKS_TABLE} ("
        "channel VARCHAR(64) NOT NULL PRIMARY KEY, mark INTEGER NOT NULL)"
    )
    # Names from our constants (store/watch_marks.py), not from input.
    seed = f"INSERT INTO {MARKS_TABLE} (channel, mark) VALUES ('{SESSIONS_MARK}', 0)"  # noqa: S608
    op.execute(seed)
    for trigger, event in _TRIGGERS:
        # Per row (SQLite has no statement triggers): one primary-key update each.
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON sessions BEGIN "  # noqa: S608
            f"UPDATE {MARKS_TABLE} SET mark = mark + 1 WHERE channel = '{SESSIONS_MARK}'; "
            "END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger, _event in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(f"DROP TABLE IF EXISTS {MARKS_TABLE}")
