"""Schema objects the migrations create and the models do not declare.

The trigram indexes of member search (PostgreSQL only, store/search_indexes.py) and
SQLite's ``watch_marks`` table (store/watch_marks.py) exist on one back end only, so
they live in their migrations alone, and Alembic's comparison (db/env.py, the migration
tests) skips them by name.
"""

from __future__ import annotations

from typing import Any

from radius_server.store.search_indexes import TRIGRAM_INDEXES
from radius_server.store.watch_marks import MARKS_TABLE

SQLITE_ONLY_TABLES = frozenset({MARKS_TABLE})


def include_object(
    _obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any
) -> bool:
    """Alembic's ``include_object``: every object but those above, found in the database."""
    if not reflected:
        return True
    if type_ == "index":
        return name not in TRIGRAM_INDEXES
    if type_ == "table":
        return name not in SQLITE_ONLY_TABLES
    return True
