"""Access plans and locations as the decision core sees them (pure: no storage, no I/O).

A plan is a named access profile (VLAN, bandwidth, timeouts, device limit, access
hours, the locations where it is valid, extra reply attributes). Admins write a
:class:`PlanDefinition`; :func:`compile_plan` turns it, once, into a :class:`Plan`
whose reply attributes are pre-encoded per NAS vendor, so the hot path only
picks a tuple of ``(type, bytes)`` pairs. Members without a plan of their own
get the default plan.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Final

from radius_server.protocol.codes import (
    ACCT_INTERIM_INTERVAL,
    IDLE_TIMEOUT,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    REPLY_MESSAGE,
)
from radius_server.protocol.dictionary import encode_attribute, load_dictionary
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute
from radius_server.rules.hours import NEVER, Hours, parse_hours
from radius_server.rules.validity import load_zone

# What ``nas update --vendor`` accepts: how a NAS wants VLAN and bandwidth said.
VENDORS: Final = ("generic", "unifi", "mikrotik", "meraki", "aruba", "cisco", "ruckus", "openwrt")
DEFAULT_VENDOR: Final = "generic"
# The plan every database starts with (migration 0006); members without a plan get it.
DEFAULT_PLAN_NAME: Final = "default"

# Bounds of a plan's numbers. Bandwidth: WISPr sends bit/s in 32 bits (~4.29 Gbit/s).
MAX_KBPS: Final = 0xFFFFFFFF // 1000
# Timeouts in seconds: at least a minute (RFC 2869 5.16 for the interim interval);
# a session at most a year, an idle timeout or interim interval at most a day.
MIN_TIMEOUT: Final = 60
MAX_SESSION_TIMEOUT: Final = 366 * 86400
MAX_IDLE_TIMEOUT: Final = 86400
MAX_DEVICE_LIMIT: Final = 1000


class PlanError(ValueError):
    """A plan that cannot be used; the message names the field or attribute, never a secret."""


@functools.cache
def _zone(name: str) -> tzinfo:
    return load_zone(name)


@dataclass(frozen=True, slots=True)
class Location:
    """A site of the space: access points (NAS) belong to one; plans may be limited to some."""

    id: int
    name: str
    # IANA time zone: a plan's access hours are read in it.
    timezone: str

    @property
    def zone(self) -> tzinfo:
        """The time zone object (loaded once per name)."""
        return _zone(self.timezone)


@dataclass(frozen=True, slots=True)
class PlanDefinition:
    """A plan as an admin writes it and the store keeps it. None: not set (NAS default)."""

    id: int
    name: str
    is_default: bool = False
    vlan: int | None = None
    # Bandwidth in kbit/s, towards the member (down) and from the member (up).
    down_kbps: int | None = None
    up_kbps: int | None = None
    # Seconds (RFC 2865 5.27, 5.28; RFC 2869 5.16).
    session_timeout: int | None = None
    idle_timeout: int | None = None
    interim_interval: int | None = None
    # Devices online at once (a member's own limit wins; None: the server's setting).
    device_limit: int | None = None
    # Weekly windows in the NAS location's time zone, e.g. "Mon-Fri 08:00-19:00";
    # None: any time (rules/hours.py parses and evaluates them).
    hours: str | None = None
    # Locations where the plan is valid; None: everywhere.
    location_ids: frozenset[int] | None = None
    # Extra reply attributes by dictionary name, as written: ("Filter-Id", "members").
    # A name may carry a tunnel tag: ("Tunnel-Private-Group-Id:1", "10").
    reply_attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled plan: what the hot path reads. Build with :func:`compile_plan`."""

    id: int
    name: str
    definition: PlanDefinition
    # Weekly access windows (rules/hours.py); None: any time.
    hours: Hours | None = None
    location_ids: frozenset[int] | None = None
    session_timeout: int | None = None
    device_limit: int | None = None
    # Acct-Interim-Interval pre-encoded, or None for the server's setting.
    interim: Attribute | None = None
    # Vendor -> the plan's reply attributes for that vendor, pre-encoded.
    replies: Mapping[str, tuple[Attribute, ...]] = field(default_factory=dict)
    # The Reply-Messages of this plan's own rejects (pre-encoded: they name its hours).
    outside_hours_reply: tuple[Attribute, ...] = ()
    wrong_location_reply: tuple[Attribute, ...] = ()
    # Whether an accept needs the clock beyond the member's own window: hours with an
    # end or a session timeout. False keeps the accept on the cheap path.
    timed: bool = False

    @property
    def is_default(self) -> bool:
        """Whether members without a plan of their own get this one."""
        return self.definition.is_default

    def reply_for(self, vendor: str) -> tuple[Attribute, ...]:
        """The plan's reply attributes for a NAS of ``vendor`` (generic if unknown)."""
        found = self.replies.get(vendor)
        return found if found is not None else self.replies.get(DEFAULT_VENDOR, ())


def compile_plan(definition: PlanDefinition) -> Plan:
    """Compile a definition for the hot path; PlanError names what cannot be used.

    What ``plan add`` / ``plan update`` run before saving: every field is checked
    and every reply attribute encoded, so a saved plan always compiles.
    """
    plan, problems = compile_lenient(definition)
    if problems:
        raise PlanError(problems[0])
    return plan


def compile_lenient(definition: PlanDefinition) -> tuple[Plan, list[str]]:
    """Compile what can be; return the plan and what had to be left out (one line each).

    Used when a server loads plans: a plan saved by an older version (or against
    other dictionaries) still loads. A number out of range or an attribute that
    cannot be encoded is left out; hours that cannot be parsed fail closed (no
    access at any time), since leaving them out would open the plan around the clock.
    """
    problems: list[str] = []
    d = definition
    vlan = _checked(problems, "vlan", d.vlan, 1, 4094)
    down = _checked(problems, "down_kbps", d.down_kbps, 1, MAX_KBPS)
    up = _checked(problems, "up_kbps", d.up_kbps, 1, MAX_KBPS)
    session_timeout = _checked(
        problems, "session_timeout", d.session_timeout, MIN_TIMEOUT, MAX_SESSION_TIMEOUT
    )
    idle = _checked(problems, "idle_timeout", d.idle_timeout, MIN_TIMEOUT, MAX_IDLE_TIMEOUT)
    interim = _checked(
        problems, "interim_interval", d.interim_interval, MIN_TIMEOUT, MAX_IDLE_TIMEOUT
    )
    device_limit = _checked(problems, "device_limit", d.device_limit, 0, MAX_DEVICE_LIMIT)
    hours: Hours | None = None
    if d.hours is not None:
        try:
            hours = parse_hours(d.hours)
        except ValueError as exc:
            problems.append(str(exc))
            hours = NEVER
    common = _common_replies(d.reply_attributes, problems)
    if idle is not None:
        common = ((IDLE_TIMEOUT, idle.to_bytes(4, "big")), *common)
    replies = {
        vendor: (*_vlan_replies(vendor, vlan), *_bandwidth_replies(vendor, down, up), *common)
        for vendor in VENDORS
    }
    if hours is not None and hours.always:
        hours = None  # around the clock: nothing to check
    return Plan(
        id=d.id,
        name=d.name,
        definition=d,
        hours=hours,
        location_ids=d.location_ids,
        session_timeout=session_timeout,
        device_limit=device_limit,
        interim=None if interim is None else (ACCT_INTERIM_INTERVAL, interim.to_bytes(4, "big")),
        replies=replies,
        outside_hours_reply=_message(f"Outside your plan's access hours ({hours})."),
        wrong_location_reply=_message("Your plan does not include this location."),
        timed=hours is not None or session_timeout is not None,
    ), problems


def _message(text: str) -> tuple[Attribute, ...]:
    data = text.encode("utf-8")
    if len(data) > MAX_ATTRIBUTE_VALUE_LENGTH:
        data = data[: MAX_ATTRIBUTE_VALUE_LENGTH - 4] + b"...)"
    return ((REPLY_MESSAGE, data),)


def _checked(problems: list[str], name: str, value: int | None, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{name}: {value!r} is out of range ({low} to {high})")
        return None
    return value


# RFC 3580 3.31 dynamic VLAN: three tunnel attributes, grouped by one tag (RFC 2868
# 3.1). Tag 1, as Cisco ISE sends them; hostapd reads any tag 0..31 and strips the tag
# octet of Tunnel-Private-Group-Id (src/radius/radius.c radius_msg_get_vlanid), Cisco
# WLC, Aruba, Ruckus, UniFi (hostapd inside) and MikroTik take the tagged form.
VLAN_TAG: Final = 1


@functools.cache
def _tunnel_replies(vlan: int) -> tuple[Attribute, ...]:
    return (
        encode_attribute("Tunnel-Type", "VLAN", tag=VLAN_TAG),
        encode_attribute("Tunnel-Medium-Type", "IEEE-802", tag=VLAN_TAG),
        encode_attribute("Tunnel-Private-Group-Id", str(vlan), tag=VLAN_TAG),
    )


def _vlan_replies(vendor: str, vlan: int | None) -> tuple[Attribute, ...]:
    """The VLAN as a NAS of ``vendor`` takes it (README: access point table)."""
    if vlan is None:
        return ()
    tunnel = _tunnel_replies(vlan)
    if vendor == "mikrotik":
        # RouterOS's legacy wireless package reads its own VLAN attribute, the
        # wifi package (RouterOS 7) the tunnel attributes: send both.
        return (*tunnel, encode_attribute("Mikrotik-Wireless-VLANID", vlan))
    return tunnel


def _bandwidth_replies(vendor: str, down: int | None, up: int | None) -> tuple[Attribute, ...]:
    """Bandwidth (kbit/s) as a NAS of ``vendor`` honours it (README: access point table)."""
    if down is None and up is None:
        return ()
    if vendor == "mikrotik":
        # "rx/tx" seen from the router: it receives the member's upload, sends the
        # download; 0 is no limit in that direction.
        return (encode_attribute("Mikrotik-Rate-Limit", f"{up or 0}k/{down or 0}k"),)
    if vendor == "cisco":
        # AireOS WLC: per-user data bandwidth contracts in kbit/s.
        out: list[Attribute] = []
        if down is not None:
            out.append(encode_attribute("Airespace-Data-Bandwidth-Average-Contract", down))
        if up is not None:
            out.append(encode_attribute("Airespace-Data-Bandwidth-Average-Contract-Upstream", up))
        return tuple(out)
    if vendor in ("meraki", "aruba"):
        # No per-user rate attribute: bandwidth belongs to a group policy (Meraki,
        # named by Filter-Id) or a user role (Aruba-User-Role); put that name in the
        # plan's reply attributes.
        return ()
    # WISPr (generic, UniFi, Ruckus, OpenWrt/CoovaChilli): bits per second.
    out = []
    if down is not None:
        out.append(encode_attribute("WISPr-Bandwidth-Max-Down", down * 1000))
    if up is not None:
        out.append(encode_attribute("WISPr-Bandwidth-Max-Up", up * 1000))
    return tuple(out)


# What the server decides itself, per request or per session: a plan must not set it.
_CONTROLLED: Final = {
    "User-Name": "the server names the member",
    "Session-Timeout": "use the plan's session timeout",
    "Idle-Timeout": "use the plan's idle timeout",
    "Acct-Interim-Interval": "use the plan's interim interval",
    "Class": "the server sets it for accounting",
    "State": "the server sets it",
    "Proxy-State": "the server echoes it",
    "Message-Authenticator": "the server signs replies",
    "EAP-Message": "the server's EAP carries it",
    "MS-MPPE-Send-Key": "the server's EAP derives it",
    "MS-MPPE-Recv-Key": "the server's EAP derives it",
    "MS-CHAP2-Success": "the server's MS-CHAPv2 sets it",
    "MS-CHAP-Error": "the server's MS-CHAPv2 sets it",
    "Vendor-Specific": "name the vendor's attribute instead",
}


def _common_replies(
    attributes: tuple[tuple[str, str], ...], problems: list[str]
) -> tuple[Attribute, ...]:
    out: list[Attribute] = []
    for written, value in attributes:
        try:
            out.append(encode_reply_attribute(written, value))
        except PlanError as exc:
            problems.append(str(exc))
    return tuple(out)


def encode_reply_attribute(written: str, value: str) -> Attribute:
    """One extra reply attribute, ``Name`` or ``Name:tag``, encoded through the dictionary.

    Raises PlanError naming the attribute: unknown, encrypted, controlled by the
    server, a value of the wrong type or out of range.
    """
    name, _, tag_text = written.strip().partition(":")
    name = name.strip()
    tag = 0
    if tag_text:
        if not tag_text.strip().isdigit() or not 0 <= int(tag_text) <= 0x1F:
            raise PlanError(f"reply attribute {written!r}: the tag must be 0 to 31")
        tag = int(tag_text)
    why = _CONTROLLED.get(name)
    if why is not None:
        raise PlanError(f"reply attribute {name!r} cannot be set by a plan ({why})")
    attr = load_dictionary().attributes.get(name)
    if attr is None:
        raise PlanError(f"reply attribute {name!r} is not in the dictionary")
    if attr.encrypt:
        raise PlanError(f"reply attribute {name!r} is encrypted: a plan cannot set it")
    if tag and not attr.has_tag:
        raise PlanError(f"reply attribute {name!r} takes no tag")
    typed: str | int = value
    if attr.type in ("integer", "short", "byte", "integer64", "date", "signed"):
        text = value.strip()
        if not attr.values.HasForward(text):
            try:
                typed = int(text, 10)
            except ValueError:
                raise PlanError(
                    f"reply attribute {name!r}: {value!r} is not a number or a known value"
                ) from None
            if typed < 0 and attr.type != "signed":
                raise PlanError(f"reply attribute {name!r}: {value!r} is out of range")
        else:
            typed = text
    try:
        return encode_attribute(name, typed, tag=tag)
    except EncodeError as exc:
        raise PlanError(f"reply attribute {name!r}: {exc}") from None


class Plans:
    """Every compiled plan by id, and the default one."""

    def __init__(self) -> None:
        self._by_id: dict[int, Plan] = {}
        self.default: Plan | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    def replace_all(self, plans: Iterable[Plan]) -> None:
        """Swap in a complete new set."""
        by_id = {p.id: p for p in plans}
        self._by_id = by_id
        self.default = next((p for p in by_id.values() if p.is_default), None)

    def all(self) -> list[Plan]:
        """Every plan."""
        return list(self._by_id.values())

    def get(self, plan_id: int) -> Plan | None:
        """The plan with this id, if any."""
        return self._by_id.get(plan_id)

    def for_member(self, plan_id: int | None) -> Plan | None:
        """A member's plan: their own, else the default (None only when there is neither)."""
        if plan_id is not None:
            found = self._by_id.get(plan_id)
            if found is not None:
                return found
        return self.default
