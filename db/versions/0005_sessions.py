"""sessions, disconnect jobs, device limits and dynamic authorization ports

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Accounting sessions merged per unique session key (RFC 2866, RFC 2869), the
queue of Disconnect-Requests to send (RFC 5176) that exactly one server
instance claims, a per-customer device limit, and each NAS's dynamic
authorization port and secret.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("device_limit", sa.Integer(), nullable=True))
    with op.batch_alter_table("radius_clients") as batch_op:
        batch_op.add_column(sa.Column("coa_port", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("coa_secret", sa.String(length=256), nullable=True))
    op.create_table(
        "sessions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("unique_key", sa.String(length=32), nullable=False),
        sa.Column("client_name", sa.String(length=100), nullable=False),
        sa.Column("nas_address", sa.String(length=45), nullable=False),
        sa.Column("nas_ip_address", sa.String(length=45), nullable=True),
        sa.Column("nas_identifier", sa.String(length=64), nullable=True),
        sa.Column("nas_port", sa.BigInteger(), nullable=True),
        sa.Column("acct_session_id", sa.String(length=253), nullable=False),
        sa.Column("user_name", sa.String(length=254), nullable=False),
        sa.Column("member_email", sa.String(length=254), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("calling_station_id", sa.String(length=64), nullable=True),
        sa.Column("called_station_id", sa.String(length=64), nullable=True),
        sa.Column("framed_ip_address", sa.String(length=45), nullable=True),
        sa.Column("class_hex", sa.String(length=506), nullable=True),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("stopped_at", _WHEN, nullable=True),
        sa.Column("session_time", sa.BigInteger(), nullable=False),
        sa.Column("input_octets", sa.BigInteger(), nullable=False),
        sa.Column("output_octets", sa.BigInteger(), nullable=False),
        sa.Column("input_packets", sa.BigInteger(), nullable=False),
        sa.Column("output_packets", sa.BigInteger(), nullable=False),
        sa.Column("terminate_cause", sa.String(length=32), nullable=True),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("changed_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("unique_key", name=op.f("uq_sessions_unique_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sessions_member_open", "sessions", ["member_email", "stopped_at"])
    op.create_index("ix_sessions_client_station", "sessions", ["client_name", "calling_station_id"])
    op.create_index("ix_sessions_changed_at", "sessions", ["changed_at"])
    op.create_index("ix_sessions_stopped_at", "sessions", ["stopped_at"])
    op.create_table(
        "disconnect_jobs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("member_email", sa.String(length=254), nullable=True),
        sa.Column("session_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", _WHEN, nullable=True),
        sa.Column("done_at", _WHEN, nullable=True),
        sa.Column("result", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disconnect_jobs")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_disconnect_jobs_done_at", "disconnect_jobs", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_disconnect_jobs_done_at", table_name="disconnect_jobs")
    op.drop_table("disconnect_jobs")
    for name in (
        "ix_sessions_stopped_at",
        "ix_sessions_changed_at",
        "ix_sessions_client_station",
        "ix_sessions_member_open",
    ):
        op.drop_index(name, table_name="sessions")
    op.drop_table("sessions")
    with op.batch_alter_table("radius_clients") as batch_op:
        batch_op.drop_column("coa_secret")
        batch_op.drop_column("coa_port")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("device_limit")
