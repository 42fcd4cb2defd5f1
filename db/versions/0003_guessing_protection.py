"""guessing protection

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The previous PIN of each customer (to recognise stale phones) and the shared
log of throttle events (failures, device successes, admin clears).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("previous_pin", sa.String(length=5), nullable=True))
    op.create_table(
        "throttle_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.String(length=254), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("known", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=True),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_throttle_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_throttle_events_at", "throttle_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_throttle_events_at", table_name="throttle_events")
    op.drop_table("throttle_events")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("previous_pin")
