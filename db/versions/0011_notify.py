"""notifications: writers wake the servers (PostgreSQL LISTEN/NOTIFY)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Running servers followed the change feed, the guessing-protection log, the
sessions and the disconnect queue by polling each four times a second. Triggers
now NOTIFY a channel when a row is written, so every writer (the CLI, the web
API, other servers, plain SQL) wakes the servers without a code change; the
tables stay the source of truth and the notification carries no data, only, for
throttle events, the writing instance (a server ignores its own). See
docs/architecture.md, "Changes pushed, not polled". Statement-level triggers
notify once per statement, and PostgreSQL folds identical notifications of one
transaction into one (PostgreSQL manual, NOTIFY). SQLite: nothing (servers poll).
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# (table, trigger, events, level, function, channel); the channels are those of
# radius_server/runtime/listener.py.
_TRIGGERS = (
    ("changes", "changes_notify", "INSERT", "STATEMENT", "radius_notify", "radius_changes"),
    (
        "throttle_events",
        "throttle_events_notify",
        "INSERT",
        # One call per statement (a batch of events is one INSERT), not per row.
        "STATEMENT",
        "radius_notify_writers",
        "radius_throttle",
    ),
    (
        "sessions",
        "sessions_notify",
        "INSERT OR UPDATE",
        "STATEMENT",
        "radius_notify",
        "radius_sessions",
    ),
    (
        "disconnect_jobs",
        "disconnect_jobs_notify",
        "INSERT",
        "STATEMENT",
        "radius_notify",
        "radius_disconnects",
    ),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION radius_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], '');
            RETURN NULL;
        END
        $$
        """
    )
    # One notification per writing instance (the rows' ``instance``), read from the
    # statement's transition table.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION radius_notify_writers() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], coalesce(writer, ''))
                FROM (SELECT DISTINCT instance AS writer FROM new_rows) AS writers;
            RETURN NULL;
        END
        $$
        """
    )
    for table, trigger, events, level, function, channel in _TRIGGERS:
        rows = " REFERENCING NEW TABLE AS new_rows" if function == "radius_notify_writers" else ""
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {events} ON {table}{rows} "
            f"FOR EACH {level} EXECUTE FUNCTION {function}('{channel}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, trigger, *_rest in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS radius_notify_writers()")
    op.execute("DROP FUNCTION IF EXISTS radius_notify()")
