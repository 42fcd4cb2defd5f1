"""SQLAlchemy 2 typed models. ORM objects never leave the ``store`` package.

Every write to customers or RADIUS clients also appends a row to ``changes``
in the same transaction: a running server follows that table (``seq`` greater
than the last one it saw) to refresh its in-memory view cheaply.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so Alembic migrations match on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so the primary key is the rowid alias
# (SQLite only autoincrements "INTEGER PRIMARY KEY").
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a naming convention for constraints."""

    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    """A member of the coworking space."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Stored trimmed and lower-cased: uniqueness and look-ups ignore case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    # Unique index: the database, not the application, guarantees one PIN per customer.
    pin: Mapped[str] = mapped_column(String(5), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    wifi_access: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    pin_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The PIN before the last change, so a phone retrying it is told apart from
    # a guesser (reason stale_pin) instead of burning the member's budget.
    previous_pin: Mapped[str | None] = mapped_column(String(5))
    # Devices online at once; NULL means the server's default (setting device_limit),
    # 0 means unlimited.
    device_limit: Mapped[int | None] = mapped_column(Integer)
    # The member's access plan; NULL: the default plan. A plan in use cannot be removed.
    plan_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("plans.id"), index=True)
    # The last accepted sign-in, kept by the servers' decision writers
    # (store/decisions.py); outlives the decisions' retention. Not indexed, so the
    # update stays a heap-only one (see docs/architecture.md "Recent decisions").
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RadiusClient(Base):
    """An access point or controller allowed to send requests (a NAS)."""

    __tablename__ = "radius_clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Normalised network in CIDR form ("192.0.2.10/32", "10.0.0.0/8", "2001:db8::/64").
    address: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(256))
    require_message_authenticator: Mapped[bool] = mapped_column(Boolean, default=True)
    # RFC 5176 Dynamic Authorization: the UDP port the NAS listens on for
    # Disconnect/CoA-Requests (NULL: it has none), and its secret (NULL: ``secret``).
    coa_port: Mapped[int | None] = mapped_column(Integer)
    coa_secret: Mapped[str | None] = mapped_column(String(256))
    # How the NAS wants VLAN and bandwidth said (rules/plans.py VENDORS).
    vendor: Mapped[str] = mapped_column(String(16), default="generic", server_default="generic")
    # Where it stands; NULL: no location (only plans valid everywhere apply).
    location_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("locations.id"))
    # Whether it takes CoA-Requests on coa_port (RFC 5176): plan changes update
    # sessions in place; otherwise they are disconnected and sign in again.
    coa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SiteLocation(Base):
    """A site of the space (rules/plans.py Location): NAS stand at one, plans may be limited."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # IANA zone: the access hours of plans are read in it.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccessPlan(Base):
    """A named access profile (rules/plans.py PlanDefinition). NULL: not set."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Exactly one plan is the default, for members without one (the store keeps it so).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    vlan: Mapped[int | None] = mapped_column(Integer)
    down_kbps: Mapped[int | None] = mapped_column(BigInteger)
    up_kbps: Mapped[int | None] = mapped_column(BigInteger)
    session_timeout: Mapped[int | None] = mapped_column(Integer)
    idle_timeout: Mapped[int | None] = mapped_column(Integer)
    interim_interval: Mapped[int | None] = mapped_column(Integer)
    device_limit: Mapped[int | None] = mapped_column(Integer)
    # Canonical text of the weekly windows ("Mon-Fri 08:00-19:00"); NULL: any time.
    hours: Mapped[str | None] = mapped_column(String(500))
    # False: valid only at the locations listed in plan_locations.
    all_locations: Mapped[bool] = mapped_column(Boolean, default=True)
    # JSON list of [name, value] pairs, checked against the dictionary when saved.
    reply_attributes: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlanLocation(Base):
    """Where a plan limited to some locations is valid."""

    __tablename__ = "plan_locations"

    plan_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"), primary_key=True)


class AuditEvent(Base):
    """Who did what to whom, when. Never holds a PIN or a secret."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(254), default="")
    details: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_audit_events_at", "at"),)


class Change(Base):
    """Append-only change feed followed by running servers (entity, id, sequence)."""

    __tablename__ = "changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))  # "customer" | "client"
    entity_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # Without AUTOINCREMENT SQLite reuses the highest rowid once it is deleted,
    # and a server following the feed would never see the reused numbers.
    __table_args__ = {"sqlite_autoincrement": True}


class MailTemplate(Base):
    """An email template edited by admins: one row per kind, shared by every admin.

    No row means the built-in default (``radius_server.mail.template``), so a
    better default in a new version reaches every space that never edited it.
    """

    __tablename__ = "mail_templates"

    # Which email this is; "pin_reminder" is the only one so far.
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    # "" means no HTML part: the message is plain text only.
    body_html: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class ThrottleEventRow(Base):
    """Guessing-protection facts shared by every server instance (see rules/throttle.py).

    Failures, first successes of a device (or a device an admin registered),
    admin clears and device removals. Servers append
    their own events in batches and follow everybody else's by ``seq``.
    """

    __tablename__ = "throttle_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))  # failure | success | clear
    user_key: Mapped[str] = mapped_column(String(254))
    device: Mapped[str | None] = mapped_column(String(64))
    known: Mapped[bool] = mapped_column(Boolean, default=False)
    # HMAC of the PIN tried (PAP) under a key kept out of the database, hex;
    # NULL counts every failure (CHAP).
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    instance: Mapped[str] = mapped_column(String(64))
    # Where the attempt came from (client/AP, see throttle.location_key).
    location: Mapped[str | None] = mapped_column(String(64))
    # Public id of the key the fingerprint was made with; the key itself is never stored.
    key_id: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_throttle_events_at", "at"),
        {"sqlite_autoincrement": True},
    )


class AccountingSession(Base):
    """One accounting session (RFC 2866): what a NAS reported, merged over its packets.

    ``unique_key`` identifies the session across retransmissions, replays from the
    spool and other server instances (rules/accounting.py: ``unique_session_key``);
    counters only ever grow (the largest value reported wins), so a packet applied
    twice changes nothing. ``stopped_at`` NULL means online.
    """

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unique_key: Mapped[str] = mapped_column(String(32), unique=True)
    # The RADIUS client (our name for the NAS) and the address its packets came from:
    # Disconnect-Requests go there.
    client_name: Mapped[str] = mapped_column(String(100))
    nas_address: Mapped[str] = mapped_column(String(45))
    # What the NAS said about itself; echoed in Disconnect-Requests (RFC 5176 3).
    nas_ip_address: Mapped[str | None] = mapped_column(String(45))
    nas_identifier: Mapped[str | None] = mapped_column(String(64))
    nas_port: Mapped[int | None] = mapped_column(BigInteger)
    acct_session_id: Mapped[str] = mapped_column(String(253))
    user_name: Mapped[str] = mapped_column(String(254), default="")
    # The member the session belongs to (from our Class, else User-Name), if known.
    member_email: Mapped[str | None] = mapped_column(String(254))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    calling_station_id: Mapped[str | None] = mapped_column(String(64))
    called_station_id: Mapped[str | None] = mapped_column(String(64))
    framed_ip_address: Mapped[str | None] = mapped_column(String(45))
    # Class (RFC 2865 5.25) as echoed by the NAS, hex: ties the session to its sign-in.
    class_hex: Mapped[str | None] = mapped_column(String(506))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    session_time: Mapped[int] = mapped_column(BigInteger, default=0)
    # Octets with their Gigawords folded in (RFC 2869 5.1, 5.2).
    input_octets: Mapped[int] = mapped_column(BigInteger, default=0)
    output_octets: Mapped[int] = mapped_column(BigInteger, default=0)
    input_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    output_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    terminate_cause: Mapped[str | None] = mapped_column(String(32))
    # Why the session is closed: stop | stale | nas-restart | replaced | disconnect.
    close_reason: Mapped[str | None] = mapped_column(String(16))
    # When this row last changed (the writer's clock): followers poll on it.
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_sessions_member_open", "member_email", "stopped_at"),
        Index("ix_sessions_client_station", "client_name", "calling_station_id"),
        Index("ix_sessions_changed_at", "changed_at"),
        Index("ix_sessions_stopped_at", "stopped_at"),
        # The session list's order (newest first, id breaks ties): a page reads its
        # rows from the index instead of sorting the table (migration 0010).
        Index("ix_sessions_started_at_id", "started_at", "id"),
        {"sqlite_autoincrement": True},
    )


class DisconnectJob(Base):
    """A member's (or one session's) sessions to end with RFC 5176 Disconnect-Requests.

    Written in the same transaction as the change that calls for it (a PIN change, a
    member disabled or removed, an admin's request); exactly one server instance claims
    it (``claimed_by``) and sends, so several instances never disconnect twice.
    """

    __tablename__ = "disconnect_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_email: Mapped[str | None] = mapped_column(String(254))
    # One session only (an admin's ``session disconnect ID``); NULL: all of the member's.
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    # pin_changed | disabled | removed | wifi_revoked | validity_ended | admin
    reason: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # One line: how many sessions were acked, nak'd, timed out.
    result: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_disconnect_jobs_done_at", "done_at"),
        {"sqlite_autoincrement": True},
    )


class ApiToken(Base):
    """A bearer token of the HTTP API: only its SHA-256 is kept (the token is shown once).

    A token is 32 random bytes, so a fast hash is enough: nobody can brute-force a
    preimage, and a look-up by hash costs one index probe per request.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Unique, stored as typed; it is the actor in the audit trail ("token:NAME").
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # readonly | operator | admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, shown in listings so an admin can tell them apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffUser(Base):
    """A person who signs in to the staff pages: an email, a role, an Argon2 hash.

    ``password_hash`` is NULL until a password is set (by a one-time link or typed
    once at the command line): such an account cannot sign in.
    """

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    role: Mapped[str] = mapped_column(String(16))  # readonly | operator | admin
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200), default="")
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser (staff or member): only the SHA-256 of its cookie is kept.

    The id is 32 random bytes, so a fast hash is enough (as for API tokens); the
    row is the session, so deleting it signs the browser out at its next request.
    ``subject_id`` is a staff_users id or a customers id, by ``kind``.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # staff | member
    subject_id: Mapped[int] = mapped_column(BigInteger)
    subject_email: Mapped[str] = mapped_column(String(254))
    # The token every form of this session carries (synchronizer token, per session).
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # absolute end
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # idle end from it

    __table_args__ = (
        Index("ix_web_sessions_subject", "kind", "subject_id"),
        Index("ix_web_sessions_expires_at", "expires_at"),
    )


class SignInLink(Base):
    """A one-time link (staff password set-up, member sign-in): only its token's SHA-256."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))  # staff-password | member-sign-in
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_sign_in_links_expires_at", "expires_at"),)


class AuthDecision(Base):
    """One Access-Request's outcome (accept or reject) and reason, as the ``access`` log says.

    Recorded by the servers in batches off the hot path (runtime/decisions.py) so the
    front desk can see why a member cannot get on; a convenience record, lossy while
    the database is away, pruned after ``decision_retention_days``. Never a PIN.
    """

    __tablename__ = "auth_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The member's email, else the User-Name as sent (lower-cased when it is an email).
    user_name: Mapped[str] = mapped_column(String(254))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    client_name: Mapped[str] = mapped_column(String(100))
    calling_station: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(8))  # accept | reject
    reason: Mapped[str] = mapped_column(String(40))
    plan: Mapped[str | None] = mapped_column(String(64))
    # The server process that decided (runtime/guard.instance_name).
    instance: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        # Recent: the primary key. Pruning reads the oldest ids (store/decisions.py).
        Index("ix_auth_decisions_user", "user_name", "id"),
        Index("ix_auth_decisions_client", "client_name", "id"),
        {"sqlite_autoincrement": True},
    )
