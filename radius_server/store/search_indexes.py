"""The trigram indexes of member search (migration 0010), which the models do not declare.

They exist on PostgreSQL only (pg_trgm), may be missing where the extension could not
be created, and SQLAlchemy cannot declare an expression index with an operator class
that Alembic's comparison understands on both back ends. So they live in the migration
alone, and Alembic's comparison skips them by name (store/unmodelled.py).
"""

from __future__ import annotations

EMAIL_TRIGRAMS = "ix_customers_email_trgm"
NAME_TRIGRAMS = "ix_customers_name_trgm"
TRIGRAM_INDEXES = frozenset({EMAIL_TRIGRAMS, NAME_TRIGRAMS})
