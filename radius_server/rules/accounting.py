"""Accounting-Requests as records (RFC 2866, RFC 2869): pure, no I/O.

An Accounting-Request becomes one :class:`AccountingRecord`: what the NAS said
about a session at one moment. Records of the same session share a
``unique_key`` (in the spirit of FreeRADIUS's Acct-Unique-Session-Id), so a
retransmission, a replay from the spool or the same packet seen by another
server instance lands on the same session row. Counters in accounting are
cumulative (RFC 2866 5.3, 5.4, 5.7), so merging takes the largest value seen:
applying a record twice changes nothing, and a late interim never lowers them.

The Class we put in an Access-Accept (:func:`make_class`) comes back in every
accounting packet of that sign-in (RFC 2865 5.25), which ties a session to the
member even when the NAS reports an outer identity such as ``anonymous``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from enum import IntEnum
from typing import Any

from radius_server.protocol import codes as c
from radius_server.protocol.packet import RadiusRequest
from radius_server.rules.throttle import normalize_station


class StatusType(IntEnum):
    """Acct-Status-Type values we act on (RFC 2866 5.1)."""

    START = c.ACCT_STATUS_START
    STOP = c.ACCT_STATUS_STOP
    INTERIM_UPDATE = c.ACCT_STATUS_INTERIM_UPDATE
    ACCOUNTING_ON = c.ACCT_STATUS_ACCOUNTING_ON
    ACCOUNTING_OFF = c.ACCT_STATUS_ACCOUNTING_OFF

    @property
    def label(self) -> str:
        """The name the log lines use (start, stop, interim-update, accounting-on/off)."""
        return self.name.lower().replace("_", "-")

    @property
    def per_session(self) -> bool:
        """Start, Stop and Interim-Update describe one session; On/Off the whole NAS."""
        return self in (StatusType.START, StatusType.STOP, StatusType.INTERIM_UPDATE)


# RFC 2866 5.10, RFC 3580 3.32 (IEEE 802.1X), RFC 5176 (none new).
TERMINATE_CAUSES: dict[int, str] = {
    1: "User-Request",
    2: "Lost-Carrier",
    3: "Lost-Service",
    4: "Idle-Timeout",
    5: "Session-Timeout",
    6: "Admin-Reset",
    7: "Admin-Reboot",
    8: "Port-Error",
    9: "NAS-Error",
    10: "NAS-Request",
    11: "NAS-Reboot",
    12: "Port-Unneeded",
    13: "Port-Preempted",
    14: "Port-Suspended",
    15: "Service-Unavailable",
    16: "Callback",
    17: "User-Error",
    18: "Host-Request",
    19: "Supplicant-Restart",
    20: "Reauthentication-Failure",
    21: "Port-Reinitialized",
    22: "Port-Administratively-Disabled",
}

# How far a NAS clock may run ahead of ours before its Event-Timestamp is not believed.
_FUTURE_SLACK_SECONDS = 300.0
_GIGAWORD = 1 << 32
_CLASS_PREFIX = b"rs1:"
_MAX_TEXT = 253


class AccountingError(ValueError):
    """An Accounting-Request we cannot store; ``str()`` is a short detail, no packet bytes."""


@dataclass(frozen=True, slots=True)
class AccountingRecord:
    """One accounting packet, as the store merges it into a session row.

    Times are POSIX seconds. ``received_at`` is when the event happened by our
    clock (arrival minus Acct-Delay-Time), used for staleness; ``event_time`` is
    the NAS's Event-Timestamp when it is believable, else ``received_at``.
    Counters are None when the packet did not carry them.
    """

    status: StatusType
    unique_key: str
    client_name: str
    nas_address: str
    acct_session_id: str
    user_name: str
    event_time: float
    received_at: float
    nas_ip_address: str | None = None
    nas_identifier: str | None = None
    nas_port: int | None = None
    member_email: str | None = None
    customer_id: int | None = None
    calling_station_id: str | None = None
    called_station_id: str | None = None
    framed_ip_address: str | None = None
    class_hex: str | None = None
    session_time: int | None = None
    input_octets: int | None = None
    output_octets: int | None = None
    input_packets: int | None = None
    output_packets: int | None = None
    terminate_cause: str | None = None

    @property
    def started_at(self) -> float:
        """When the session began, as far as this packet tells."""
        if self.status is StatusType.START or not self.session_time:
            return self.event_time
        return self.event_time - self.session_time

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the spool writes them as JSON)."""
        values = asdict(self)
        values["status"] = int(self.status)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AccountingRecord:
        """The record ``as_dict`` gave; unknown keys are ignored (older or newer spools)."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        kept["status"] = StatusType(kept["status"])
        return cls(**kept)


def unique_session_key(
    client_name: str,
    nas_ip_address: str | None,
    nas_identifier: str | None,
    nas_port: int | None,
    acct_session_id: str,
) -> str:
    """The session's identity across packets, retransmissions and server instances.

    Acct-Session-Id is only unique per NAS (RFC 2866 5.5), so the NAS's own
    identity and port are part of the key. User-Name is not: a NAS may report the
    outer identity in one packet and the member in another.
    """
    text = "\0".join(
        (
            client_name,
            nas_ip_address or "",
            nas_identifier or "",
            "" if nas_port is None else str(nas_port),
            acct_session_id,
        )
    )
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def make_class(member_id: int, token: bytes) -> bytes:
    """The Class for an Access-Accept: names the member and this sign-in (``token``)."""
    # One formatting step: every Access-Accept makes one.
    return b"%s%d:%s" % (_CLASS_PREFIX, member_id, token.hex().encode())


def class_member_id(value: bytes | None) -> int | None:
    """The member id in a Class we issued (:func:`make_class`), else None."""
    if not value or not value.startswith(_CLASS_PREFIX):
        return None
    number, _, _ = value[len(_CLASS_PREFIX) :].partition(b":")
    if not number.isdigit() or len(number) > 18:
        return None
    return int(number)


def record_from_request(
    request: RadiusRequest,
    client_name: str,
    nas_address: str,
    now: float,
    member: tuple[int, str] | None = None,
) -> AccountingRecord:
    """The record for an authentic Accounting-Request received at ``now``.

    ``member`` is (customer id, email) when the caller resolved who the session
    belongs to (from our Class, else from User-Name). Raises AccountingError for a
    packet without a usable Acct-Status-Type or, for Start/Stop/Interim, without
    an Acct-Session-Id (RFC 2866 5.5: it MUST be present).
    """
    if request.acct_status_type is None:
        raise AccountingError("no_status_type")
    try:
        status = StatusType(request.acct_status_type)
    except ValueError:
        raise AccountingError("unsupported_status_type") from None
    session_id = (request.acct_session_id or "").strip()
    if status.per_session and not session_id:
        raise AccountingError("no_acct_session_id")
    values = _integers(request)
    delay = values.get(c.ACCT_DELAY_TIME, 0)
    received_at = now - min(delay, 86400)
    event_time = float(values.get(c.EVENT_TIMESTAMP, 0)) or received_at
    if event_time > now + _FUTURE_SLACK_SECONDS:
        event_time = received_at
    nas_ip = request.nas_ip_address or request.nas_ipv6_address
    nas_identifier = _text(request.nas_identifier)
    class_value = request.get(c.CLASS)
    cause = values.get(c.ACCT_TERMINATE_CAUSE)
    customer_id, email = member if member is not None else (None, None)
    return AccountingRecord(
        status=status,
        unique_key=(
            unique_session_key(client_name, nas_ip, nas_identifier, request.nas_port, session_id)
            if status.per_session
            else ""
        ),
        client_name=client_name,
        nas_address=nas_address,
        acct_session_id=session_id[:_MAX_TEXT],
        user_name=(request.user_name or "").strip()[:254],
        event_time=event_time,
        received_at=received_at,
        nas_ip_address=nas_ip,
        nas_identifier=nas_identifier,
        nas_port=request.nas_port,
        member_email=email,
        customer_id=customer_id,
        calling_station_id=normalize_station(request.calling_station_id),
        called_station_id=_text(request.called_station_id),
        framed_ip_address=_address(request.get(c.FRAMED_IP_ADDRESS)),
        class_hex=class_value.hex() if class_value else None,
        session_time=values.get(c.ACCT_SESSION_TIME),
        input_octets=_octets(values, c.ACCT_INPUT_OCTETS, c.ACCT_INPUT_GIGAWORDS),
        output_octets=_octets(values, c.ACCT_OUTPUT_OCTETS, c.ACCT_OUTPUT_GIGAWORDS),
        input_packets=values.get(c.ACCT_INPUT_PACKETS),
        output_packets=values.get(c.ACCT_OUTPUT_PACKETS),
        terminate_cause=(None if cause is None else TERMINATE_CAUSES.get(cause, f"Cause-{cause}")),
    )


_INTEGER_ATTRIBUTES = frozenset(
    {
        c.ACCT_DELAY_TIME,
        c.ACCT_INPUT_OCTETS,
        c.ACCT_OUTPUT_OCTETS,
        c.ACCT_SESSION_TIME,
        c.ACCT_INPUT_PACKETS,
        c.ACCT_OUTPUT_PACKETS,
        c.ACCT_TERMINATE_CAUSE,
        c.ACCT_INPUT_GIGAWORDS,
        c.ACCT_OUTPUT_GIGAWORDS,
        c.EVENT_TIMESTAMP,
    }
)


def _integers(request: RadiusRequest) -> dict[int, int]:
    """The 32-bit integer attributes accounting reads; a wrong length is an error."""
    found: dict[int, int] = {}
    for attr_type, value in request.attributes:
        if attr_type in _INTEGER_ATTRIBUTES:
            if len(value) != 4:
                raise AccountingError(f"bad_length_attribute_{attr_type}")
            if attr_type in found:
                raise AccountingError(f"duplicate_attribute_{attr_type}")
            found[attr_type] = int.from_bytes(value, "big")
    return found


def _octets(values: dict[int, int], octets: int, gigawords: int) -> int | None:
    low = values.get(octets)
    high = values.get(gigawords)
    if low is None and high is None:
        return None
    return (high or 0) * _GIGAWORD + (low or 0)


def _text(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()[:64]
    return text.encode("utf-8", "replace").decode("utf-8") or None


def _address(value: bytes | None) -> str | None:
    if value is None or len(value) != 4:
        return None
    return str(ipaddress.IPv4Address(value))


# Why a session row is closed (column ``sessions.close_reason``).
CLOSE_STOP = "stop"  # the NAS sent Accounting-Stop
CLOSE_STALE = "stale"  # no accounting for longer than the interim interval plus grace
CLOSE_NAS_RESTART = "nas-restart"  # the NAS sent Accounting-On/Off (RFC 2866 5.1)
CLOSE_REPLACED = "replaced"  # a new Start for the same station on the same NAS
CLOSE_DISCONNECT = "disconnect"  # we ended it with a Disconnect-Request (RFC 5176)


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """What one or more records of one session say, merged: the values a row takes.

    :func:`combine` is the merge rule, and the store's upsert applies exactly the
    same rule in SQL (row = old, update = new), so merging records of one session
    inside a batch first and writing once gives the row that writing them one by
    one would. Times are POSIX seconds; counters never go down.
    """

    unique_key: str
    client_name: str
    nas_address: str
    acct_session_id: str
    user_name: str
    started_at: float  # earliest known start
    updated_at: float  # latest ``received_at`` (our clock)
    nas_ip_address: str | None = None
    nas_identifier: str | None = None
    nas_port: int | None = None
    member_email: str | None = None
    customer_id: int | None = None
    calling_station_id: str | None = None
    called_station_id: str | None = None
    framed_ip_address: str | None = None
    class_hex: str | None = None
    stopped_at: float | None = None  # the first Stop's event time
    session_time: int = 0
    input_octets: int = 0
    output_octets: int = 0
    input_packets: int = 0
    output_packets: int = 0
    terminate_cause: str | None = None
    close_reason: str | None = None  # "stop" once a Stop was seen
    # The latest Start among the records (our clock): it closes older sessions of the
    # same station on the same NAS. Not stored.
    start_received_at: float | None = None

    @classmethod
    def of(cls, record: AccountingRecord) -> SessionUpdate:
        """The update one Start, Interim-Update or Stop record makes."""
        stop = record.status is StatusType.STOP
        return cls(
            unique_key=record.unique_key,
            client_name=record.client_name,
            nas_address=record.nas_address,
            acct_session_id=record.acct_session_id,
            user_name=record.user_name,
            started_at=record.started_at,
            updated_at=record.received_at,
            nas_ip_address=record.nas_ip_address,
            nas_identifier=record.nas_identifier,
            nas_port=record.nas_port,
            member_email=record.member_email,
            customer_id=record.customer_id,
            calling_station_id=record.calling_station_id,
            called_station_id=record.called_station_id,
            framed_ip_address=record.framed_ip_address,
            class_hex=record.class_hex,
            stopped_at=record.event_time if stop else None,
            session_time=record.session_time or 0,
            input_octets=record.input_octets or 0,
            output_octets=record.output_octets or 0,
            input_packets=record.input_packets or 0,
            output_packets=record.output_packets or 0,
            terminate_cause=record.terminate_cause if stop else None,
            close_reason=CLOSE_STOP if stop else None,
            start_received_at=(record.received_at if record.status is StatusType.START else None),
        )


def _first(old: Any, new: Any) -> Any:
    return new if old is None else old


def _latest(old: Any, new: Any) -> Any:
    return old if new is None else new


def combine(old: SessionUpdate, new: SessionUpdate) -> SessionUpdate:
    """``old`` (earlier records, or the stored row) followed by ``new``, of one session.

    - counters: the larger (they are cumulative: a replay never double-counts and a
      late interim never lowers them); started_at the earlier, updated_at the later;
    - the first Stop wins and is never undone (an interim after it does not reopen),
      and replaces a close of ours (stale, replaced, ...): the NAS knows best;
    - member, customer and User-Name: the first known value, except that the first
      record naming a member brings its own (the NAS may report an outer identity
      such as ``anonymous`` before the member is known); Class: the first known
      (the NAS echoes it unchanged, RFC 2865 5.25);
    - addresses (NAS source, Framed-IP, Called-Station): the latest known.
    """
    take = old.member_email is None and new.member_email is not None
    pick = _latest if take else _first
    stop = new.stopped_at is not None and old.close_reason != CLOSE_STOP
    return SessionUpdate(
        unique_key=old.unique_key,
        client_name=old.client_name,
        nas_address=_latest(old.nas_address, new.nas_address),
        acct_session_id=old.acct_session_id,
        user_name=pick(old.user_name or None, new.user_name or None) or "",
        started_at=min(old.started_at, new.started_at),
        updated_at=max(old.updated_at, new.updated_at),
        nas_ip_address=_first(old.nas_ip_address, new.nas_ip_address),
        nas_identifier=_first(old.nas_identifier, new.nas_identifier),
        nas_port=_first(old.nas_port, new.nas_port),
        member_email=pick(old.member_email, new.member_email),
        customer_id=pick(old.customer_id, new.customer_id),
        calling_station_id=_first(old.calling_station_id, new.calling_station_id),
        called_station_id=_latest(old.called_station_id, new.called_station_id),
        framed_ip_address=_latest(old.framed_ip_address, new.framed_ip_address),
        class_hex=_first(old.class_hex, new.class_hex),
        stopped_at=new.stopped_at if stop else old.stopped_at,
        session_time=max(old.session_time, new.session_time),
        input_octets=max(old.input_octets, new.input_octets),
        output_octets=max(old.output_octets, new.output_octets),
        input_packets=max(old.input_packets, new.input_packets),
        output_packets=max(old.output_packets, new.output_packets),
        terminate_cause=new.terminate_cause if stop else old.terminate_cause,
        close_reason=new.close_reason if stop else old.close_reason,
        start_received_at=_max_or_none(old.start_received_at, new.start_received_at),
    )


def _max_or_none(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def merge(records: Iterable[AccountingRecord]) -> list[SessionUpdate]:
    """Start/Stop/Interim records, in order, merged per session; sorted by unique key.

    One update per session (the order writers lock rows in: sorted, so two writers
    never wait on each other crosswise). Accounting-On/Off records are not per
    session; the caller splits its batch at them (they must stay in order).
    """
    merged: dict[str, SessionUpdate] = {}
    for record in records:
        if not record.status.per_session:
            raise ValueError("merge takes Start, Stop and Interim-Update records only")
        update = SessionUpdate.of(record)
        old = merged.get(record.unique_key)
        merged[record.unique_key] = update if old is None else combine(old, update)
    return [merged[key] for key in sorted(merged)]
