"""customer search: trigram indexes (PostgreSQL); the session list's order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

The member search of the API and the CLI (store/customers.py ``find``: a substring of
the email or, in any case, of the name) is ``LIKE '%text%'``, which no b-tree serves:
PostgreSQL read every row, about 25 ms at 100,000 members on a quiet machine and over
100 ms on a busy one, for each page (bench/README.md, "HTTP API"). pg_trgm's GIN
indexes serve such patterns from three characters on (PostgreSQL manual, pg_trgm,
"Index Support"); shorter ones match so many members that the email order finds a page
at once. Not in the models (store/search_indexes.py says why). SQLite: nothing.

The session list (newest first) sorted the whole ``sessions`` table for each page: about
60 ms at 100,000 sessions. An index on (started_at, id) serves that order on both
databases.

pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
A role that may not gets no indexes and a warning; search still works, only slower.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

from radius_server.store.search_indexes import EMAIL_TRIGRAMS, NAME_TRIGRAMS

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_log = logging.getLogger("alembic.runtime.migration")


def _have_trigrams() -> bool:
    """pg_trgm is there or could be created now (in a savepoint: a refusal undoes nothing)."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        _log.warning(
            "pg_trgm could not be created (%s): member search stays unindexed",
            type(exc.orig).__name__,
        )
        return False
    return True


def upgrade() -> None:
    op.create_index("ix_sessions_started_at_id", "sessions", ["started_at", "id"])
    if op.get_bind().dialect.name != "postgresql" or not _have_trigrams():
        return
    op.execute(f"CREATE INDEX {EMAIL_TRIGRAMS} ON customers USING gin (email gin_trgm_ops)")
    op.execute(
        f"CREATE INDEX {NAME_TRIGRAMS} ON customers USING gin (lower(full_name) gin_trgm_ops)"
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_started_at_id", table_name="sessions")
    if op.get_bind().dialect.name != "postgresql":
        return
    # The extension stays: other objects may use it, and dropping it needs its owner.
    op.execute(f"DROP INDEX IF EXISTS {NAME_TRIGRAMS}")
    op.execute(f"DROP INDEX IF EXISTS {EMAIL_TRIGRAMS}")
