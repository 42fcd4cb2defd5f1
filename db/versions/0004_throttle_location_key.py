"""guessing protection by location, keyed fingerprints

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Each throttle event records where it came from (the RADIUS client and access
point, for the per-location budget) and the public id of the key its PIN
fingerprint was made with (instances sharing a budget must share the key).
Fingerprints written before this revision were plain hashes that anyone with
the table could invert: they are erased (the event still counts, as a failure
of its own).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("throttle_events") as batch_op:
        batch_op.add_column(sa.Column("location", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    op.execute("UPDATE throttle_events SET fingerprint = NULL WHERE fingerprint IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("throttle_events") as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("location")
