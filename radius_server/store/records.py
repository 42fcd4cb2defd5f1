"""Plain values handed out by the store: the rest of the program never sees ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


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
        }
        if include_pin:
            data["pin"] = self.pin
        return data


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

    def to_dict(self, *, include_secret: bool) -> dict[str, Any]:
        """JSON-ready mapping; the secret only on explicit request."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "require_message_authenticator": self.require_message_authenticator,
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
