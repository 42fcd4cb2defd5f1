"""access plans and locations

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Named access plans (VLAN, bandwidth, timeouts, device limit, access hours, where
they are valid, extra reply attributes), the locations of the space with their
time zones, each customer's plan, and per NAS its vendor, location and whether it
takes CoA-Requests. Every database starts with one plan, ``default``, which sets
nothing: members keep today's access until an admin edits it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _WHEN, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("name", name=op.f("uq_locations_name")),
    )
    plans = op.create_table(
        "plans",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.Column("down_kbps", sa.BigInteger(), nullable=True),
        sa.Column("up_kbps", sa.BigInteger(), nullable=True),
        sa.Column("session_timeout", sa.Integer(), nullable=True),
        sa.Column("idle_timeout", sa.Integer(), nullable=True),
        sa.Column("interim_interval", sa.Integer(), nullable=True),
        sa.Column("device_limit", sa.Integer(), nullable=True),
        sa.Column("hours", sa.String(length=500), nullable=True),
        sa.Column("all_locations", sa.Boolean(), nullable=False),
        sa.Column("reply_attributes", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _WHEN, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_plans_name")),
    )
    op.create_table(
        "plan_locations",
        sa.Column("plan_id", _ID, nullable=False),
        sa.Column("location_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_locations_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_plan_locations_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("plan_id", "location_id", name=op.f("pk_plan_locations")),
    )
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("plan_id", _ID, nullable=True))
        batch_op.create_index(batch_op.f("ix_customers_plan_id"), ["plan_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_plan_id_plans"), "plans", ["plan_id"], ["id"]
        )
    with op.batch_alter_table("radius_clients") as batch_op:
        batch_op.add_column(
            sa.Column("vendor", sa.String(length=16), server_default="generic", nullable=False)
        )
        batch_op.add_column(sa.Column("location_id", _ID, nullable=True))
        batch_op.add_column(
            sa.Column("coa", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_radius_clients_location_id_locations"),
            "locations",
            ["location_id"],
            ["id"],
        )
    op.bulk_insert(
        plans,
        [
            {
                "name": "default",
                "is_default": True,
                "all_locations": True,
                "reply_attributes": "[]",
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("radius_clients") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_radius_clients_location_id_locations"), type_="foreignkey"
        )
        batch_op.drop_column("coa")
        batch_op.drop_column("location_id")
        batch_op.drop_column("vendor")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_customers_plan_id_plans"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_customers_plan_id"))
        batch_op.drop_column("plan_id")
    op.drop_table("plan_locations")
    op.drop_table("plans")
    op.drop_table("locations")
