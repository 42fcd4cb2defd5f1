"""SQLite's ``watch_marks`` table (migration 0012): a counter per channel, bumped by triggers.

A session's row is updated in place (interim updates, stops, closes), which moves no
key the watcher (runtime/sqlite_watch.py) could read, so AFTER INSERT and AFTER UPDATE
triggers on ``sessions`` add one to its row here, whoever writes. The table and its
triggers exist on SQLite only: the models do not declare them and Alembic's comparison
skips the table (store/unmodelled.py).
"""

from __future__ import annotations

MARKS_TABLE = "watch_marks"
# The sessions row's key: runtime/listener.py's channel name.
SESSIONS_MARK = "radius_sessions"
