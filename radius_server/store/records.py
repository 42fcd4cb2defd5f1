"""Plain values handed out by the store: the rest of the program never sees ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from radius_server.rules.plans import PlanDefinition


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; we only ever store UTC, so label them."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text, or None."""
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer as the rest of the program sees it. ``repr`` hides the PIN."""

    id: int
    email: str
    full_name: str
    pin: str = field(repr=False)
    active: bool
    wifi_access: bool
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    pin_changed_at: datetime | None
    previous_pin: str | None = field(default=None, repr=False)
    # Devices online at once: None = the server's setting device_limit, 0 = unlimited.
    device_limit: int | None = None
    # The member's access plan (None: the default plan).
    plan_id: int | None = None

    def to_dict(self, *, include_pin: bool) -> dict[str, Any]:
        """JSON-ready mapping; the PIN only when the caller is an admin view that shows it."""
        data: dict[str, Any] = {
            "id": self.id,
            "email": self.email,
            "name": self.full_name,
            "active": self.active,
            "wifi_access": self.wifi_access,
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "pin_changed_at": iso(self.pin_changed_at),
            "device_limit": self.device_limit,
            "plan_id": self.plan_id,
        }
        if include_pin:
            data["pin"] = self.pin
        return data


# How ``ClientRecord.to_dict`` names the secret of Disconnect-Requests.
COA_DEFAULT_SECRET = "RADIUS secret"  # noqa: S105 (labels, not secrets)
COA_OWN_SECRET = "separate"  # noqa: S105


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A RADIUS client (access point or controller). ``repr`` hides the secret."""

    id: int
    name: str
    address: str
    secret: str = field(repr=False)
    require_message_authenticator: bool
    created_at: datetime | None
    updated_at: datetime | None
    # RFC 5176 dynamic authorization: the NAS's port (None: none) and its own
    # secret (None: the RADIUS secret).
    coa_port: int | None = None
    coa_secret: str | None = field(default=None, repr=False)
    # How it wants VLAN and bandwidth said, where it stands, whether it takes CoA-Requests.
    vendor: str = "generic"
    location_id: int | None = None
    coa: bool = False

    def to_dict(self, *, include_secret: bool) -> dict[str, Any]:
        """JSON-ready mapping; the secret only on explicit request, the CoA secret never."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "require_message_authenticator": self.require_message_authenticator,
            "coa_port": self.coa_port,
            # Which secret signs Disconnect-Requests, never its value: an admin who
            # set a separate one typed it and has it.
            "coa_secret": COA_DEFAULT_SECRET if self.coa_secret is None else COA_OWN_SECRET,
            "vendor": self.vendor,
            "location_id": self.location_id,
            "coa": self.coa,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if include_secret:
            data["secret"] = self.secret
        return data


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One admin action from the audit trail."""

    id: int
    at: datetime | None
    actor: str
    action: str
    target: str
    details: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "id": self.id,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One accounting session as the rest of the program sees it (table ``sessions``)."""

    id: int
    unique_key: str
    client_name: str
    nas_address: str
    nas_ip_address: str | None
    nas_identifier: str | None
    nas_port: int | None
    acct_session_id: str
    user_name: str
    member_email: str | None
    customer_id: int | None
    calling_station_id: str | None
    called_station_id: str | None
    framed_ip_address: str | None
    class_hex: str | None
    started_at: datetime
    updated_at: datetime
    stopped_at: datetime | None
    session_time: int
    input_octets: int
    output_octets: int
    input_packets: int
    output_packets: int
    terminate_cause: str | None
    close_reason: str | None
    changed_at: datetime

    @property
    def online(self) -> bool:
        """Open: no Stop, and not closed by us (stale, NAS restart, replaced, disconnect)."""
        return self.stopped_at is None

    def duration(self, now: datetime) -> int:
        """Seconds from start to stop (or to ``now`` while open); never negative."""
        end = self.stopped_at if self.stopped_at is not None else now
        return max(0, int((end - self.started_at).total_seconds()))

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready mapping: exact counters, ISO times; ``duration`` when ``now`` is given."""
        data: dict[str, Any] = {
            "id": self.id,
            "online": self.online,
            "member_email": self.member_email,
            "customer_id": self.customer_id,
            "user_name": self.user_name,
            "client_name": self.client_name,
            "nas_address": self.nas_address,
            "nas_ip_address": self.nas_ip_address,
            "nas_identifier": self.nas_identifier,
            "nas_port": self.nas_port,
            "acct_session_id": self.acct_session_id,
            "unique_key": self.unique_key,
            "calling_station_id": self.calling_station_id,
            "called_station_id": self.called_station_id,
            "framed_ip_address": self.framed_ip_address,
            "class_hex": self.class_hex,
            "started_at": iso(self.started_at),
            "updated_at": iso(self.updated_at),
            "stopped_at": iso(self.stopped_at),
            "session_time": self.session_time,
            "input_octets": self.input_octets,
            "output_octets": self.output_octets,
            "input_packets": self.input_packets,
            "output_packets": self.output_packets,
            "terminate_cause": self.terminate_cause,
            "close_reason": self.close_reason,
            "changed_at": iso(self.changed_at),
        }
        if now is not None:
            data["duration"] = self.duration(now)
        return data


@dataclass(frozen=True, slots=True)
class LocationRecord:
    """A location of the space (rules/plans.py Location)."""

    id: int
    name: str
    timezone: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """An access plan as stored (rules/plans.py PlanDefinition, plus bookkeeping)."""

    id: int
    name: str
    is_default: bool
    vlan: int | None
    down_kbps: int | None
    up_kbps: int | None
    session_timeout: int | None
    idle_timeout: int | None
    interim_interval: int | None
    device_limit: int | None
    hours: str | None
    # Location ids where the plan is valid; None: everywhere.
    location_ids: frozenset[int] | None
    reply_attributes: tuple[tuple[str, str], ...]
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def definition(self) -> PlanDefinition:
        """The pure definition the decision core compiles."""
        return PlanDefinition(
            id=self.id,
            name=self.name,
            is_default=self.is_default,
            vlan=self.vlan,
            down_kbps=self.down_kbps,
            up_kbps=self.up_kbps,
            session_timeout=self.session_timeout,
            idle_timeout=self.idle_timeout,
            interim_interval=self.interim_interval,
            device_limit=self.device_limit,
            hours=self.hours,
            location_ids=self.location_ids,
            reply_attributes=self.reply_attributes,
        )
