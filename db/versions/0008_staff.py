"""staff accounts, web sessions, sign-in links

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

The web pages (issue 15): staff accounts with an Argon2 password hash (NULL
until set), server-side browser sessions (the SHA-256 of the session id, never
the id; deleting the row signs the browser out), and one-time links (the
SHA-256 of the token) for a staff member's password and a member's sign-in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("created_at", _WHEN, server_default=sa.func.now(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("disabled_at", _WHEN, nullable=True),
        sa.Column("last_sign_in_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_email", sa.String(length=254), nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_web_sessions_session_hash")),
    )
    op.create_index("ix_web_sessions_subject", "web_sessions", ["kind", "subject_id"], unique=False)
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"], unique=False)
    op.create_table(
        "sign_in_links",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_links_token_hash")),
    )
    op.create_index("ix_sign_in_links_expires_at", "sign_in_links", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("sign_in_links")
    op.drop_table("web_sessions")
    op.drop_table("staff_users")
