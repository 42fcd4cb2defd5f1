"""A tiny RADIUS client for end-to-end tests, and the usual site set-up."""

from __future__ import annotations

import json
import socket

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request
from tests.conftest import Cli

SECRET = "loopback-test-secret-0123456789"


def send(port: int, packet: bytes, timeout: float = 2.0) -> bytes | None:
    """Send one datagram to 127.0.0.1:port; the reply, or None after ``timeout``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(packet, ("127.0.0.1", port))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return None


def ask(port: int, email: str, pin: str, station: str | None = None) -> int | None:
    """One PAP Access-Request (with Message-Authenticator); the reply code or None."""
    attributes = [(c.CALLING_STATION_ID, station.encode())] if station else []
    request = encode_request(
        SECRET.encode(), identifier=1, user_name=email, password=pin.encode(), attributes=attributes
    )
    reply = send(port, request.packet)
    return None if reply is None else reply[0]


def pin_of(cli: Cli, email: str) -> str:
    """A customer's PIN, read through the CLI."""
    result = cli("--json", "customer", "show", email)
    assert result.code == 0, result.err
    return json.loads(result.out)["pin"]


def prepare_site(cli: Cli, *, upgrade: bool = True, email: str = "ana@example.com") -> str:
    """Migrate, register 127.0.0.1 with SECRET, add one member; return the member's PIN."""
    if upgrade:
        assert cli("db", "upgrade").code == 0
    assert cli("nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", email).code == 0
    return pin_of(cli, email)
