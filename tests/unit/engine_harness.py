"""An in-memory engine with a fake clock: the real decision path, bytes in and bytes out."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request, verify_reply
from radius_server.rules.decision import Reason
from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.online import OnlineDevices
from radius_server.rules.throttle import ThrottleSettings
from radius_server.runtime.engine import Engine
from radius_server.runtime.guard import Guard

SECRET = b"harness-secret-0123456789"
NAS_ADDRESS = "192.0.2.10"


class RecordingLog:
    """A structlog-like logger that keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _add(self, level: str, event: str, **fields: Any) -> None:
        self.events.append({"event": event, "level": level, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._add("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._add("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._add("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._add("error", event, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        """Events with this name."""
        return [e for e in self.events if e["event"] == event]


@dataclass
class FakeClock:
    """Wall and monotonic time under the test's control."""

    now: float = 1_800_000_000.0

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """Directory, engine, guard and clock wired together."""

    settings: ThrottleSettings = field(default_factory=ThrottleSettings)
    clock: FakeClock = field(default_factory=FakeClock)
    log: RecordingLog = field(default_factory=RecordingLog)
    # The devices-online view; None: devices are not counted (no device limit).
    online: OnlineDevices | None = None

    def __post_init__(self) -> None:
        self.directory = Directory()
        self.directory.ready = True
        self.directory.clients.put(
            Client(1, "ap", ip_network(NAS_ADDRESS), SECRET, require_message_authenticator=True)
        )
        self.guard = Guard(self.settings, self.log, store=None)
        self.engine = Engine(
            self.directory,
            self.log,
            clock=self.clock,
            monotonic=self.clock,
            guard=self.guard,
            online=self.online,
        )
        self._ids = itertools.count(1)
        self._ports = itertools.count(1024)

    def add_member(
        self,
        email: str,
        pin: str,
        previous_pin: str | None = None,
        device_limit: int | None = None,
    ) -> Member:
        """Put a member in the directory."""
        member = Member(
            id=next(self._ids),
            email=email,
            pin=pin.encode(),
            active=True,
            wifi_access=True,
            valid_from=None,
            valid_until=None,
            pin_changed_at=self.clock.now,
            previous_pin=previous_pin.encode() if previous_pin else None,
            device_limit=device_limit,
        )
        self.directory.members.put(member)
        return member

    def send(
        self,
        email: str,
        pin: str,
        station: str | None = None,
        method: str = "pap",
        packet: bytes | None = None,
        port: int | None = None,
        ap: str | None = None,
    ) -> tuple[int | None, dict[str, Any]]:
        """One request through handle_auth; the reply code and the canonical log line.

        ``ap``: the access point's MAC, sent as Called-Station-Id (the location).
        """
        attributes = [(c.CALLING_STATION_ID, station.encode())] if station else []
        if ap:
            attributes.append((c.CALLED_STATION_ID, f"{ap}:Coworking".encode()))
        if packet is None:
            request = encode_request(
                SECRET,
                identifier=secrets.randbelow(256),
                user_name=email,
                password=pin.encode(),
                method=method,  # type: ignore[arg-type]
                attributes=attributes,
            )
            packet = request.packet
            authenticator = request.authenticator
        else:
            authenticator = packet[4:20]
        before = len(self.log.events)
        result = self.engine.handle_auth(packet, (NAS_ADDRESS, port or next(self._ports)))
        lines = [e for e in self.log.events[before:] if e["event"] == "access"]
        line = lines[-1] if lines else {}
        if result is None:
            return None, line
        reply, _delay = result
        assert verify_reply(reply, authenticator, SECRET)
        return reply[0], line


def evaluated(line: dict[str, Any]) -> bool:
    """True when the server compared the PIN (as opposed to a lock answering first)."""
    return line.get("reason") in (
        Reason.WRONG_PIN,
        Reason.OK,
        Reason.UNKNOWN_USER,
        Reason.STALE_PIN,
    )


def random_mac() -> str:
    """An attacker's fresh MAC address."""
    return "-".join(f"{b:02X}" for b in secrets.token_bytes(6))


def proxy_states(total: int) -> list[bytes]:
    """Proxy-State values taking exactly ``total`` octets on the wire (``total`` != 1)."""
    states: list[bytes] = []
    while total > 0:
        piece = min(255, total)
        if total - piece == 1:
            piece -= 1  # leave 2 octets: an empty Proxy-State, never a lone octet
        states.append(bytes((len(states) % 256,)) * (piece - 2))
        total -= piece
    return states


def tampered(packet: bytes) -> bytes:
    """``packet`` with one bit of its Message-Authenticator (the first attribute) flipped."""
    assert packet[20] == c.MESSAGE_AUTHENTICATOR
    return packet[:22] + bytes((packet[22] ^ 1,)) + packet[23:]
