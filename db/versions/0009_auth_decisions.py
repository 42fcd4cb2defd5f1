"""auth decisions and customers.last_sign_in_at

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The recent sign-in decisions (accept or reject, with the log's reason) that
servers record in batches off the hot path, for the front desk's "why can't I
get on?" (never a PIN or password), and each member's last accepted sign-in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_decisions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("user_name", sa.String(length=254), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("client_name", sa.String(length=100), nullable=False),
        sa.Column("calling_station", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_decisions")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_auth_decisions_user", "auth_decisions", ["user_name", "id"])
    op.create_index("ix_auth_decisions_client", "auth_decisions", ["client_name", "id"])
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("last_sign_in_at", _WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("last_sign_in_at")
    for name in ("ix_auth_decisions_client", "ix_auth_decisions_user"):
        op.drop_index(name, table_name="auth_decisions")
    op.drop_table("auth_decisions")
