"""Shared helpers for the EAP and MS-CHAP unit tests: an engine on an in-memory directory.

A helper module; its own check is test_eap_peer.py::test_helpers_build_a_verifiable_request.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from radius_server.protocol.client import encode_access_request
from radius_server.protocol.packet import Attribute, RadiusRequest, decode_request
from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.methods import MethodHandler
from radius_server.runtime.engine import Engine
from tests.unit.engine_harness import RecordingLog

SECRET = b"test-secret-123"
SOURCE = ("127.0.0.1", 40000)
PIN = b"12345"
EMAIL = "ada@example.org"


class ListLogger(RecordingLog):
    """The harness's recording logger, plus a shortcut to the canonical lines."""

    def access(self) -> list[dict[str, Any]]:
        """The canonical ``access`` lines."""
        return self.named("access")


def member(
    email: str = EMAIL, pin: bytes = PIN, *, active: bool = True, member_id: int = 1
) -> Member:
    """A member with Wi-Fi access and no validity window."""
    return Member(
        id=member_id,
        email=email,
        pin=pin,
        active=active,
        wifi_access=True,
        valid_from=None,
        valid_until=None,
        pin_changed_at=None,
    )


def make_engine(
    methods: dict[str, MethodHandler], members: list[Member] | None = None
) -> tuple[Engine, ListLogger]:
    """An engine with one client (127.0.0.1) and the given members."""
    directory = Directory()
    directory.clients.put(Client(1, "ap", ipaddress.ip_network("127.0.0.1/32"), SECRET, True))
    directory.members.replace_all(members if members is not None else [member()])
    directory.ready = True
    log = ListLogger()
    return Engine(directory, log, methods=methods), log


def access_request(
    attributes: list[Attribute], identifier: int | None = None
) -> tuple[bytes, bytes]:
    """(packet, request authenticator) of a signed Access-Request."""
    authenticator = secrets.token_bytes(16)
    ident = secrets.randbelow(256) if identifier is None else identifier
    encoded = encode_access_request(
        SECRET, identifier=ident, attributes=attributes, authenticator=authenticator
    )
    return encoded.packet, authenticator


def send(engine: Engine, attributes: list[Attribute]) -> tuple[RadiusRequest, bytes]:
    """Run one Access-Request through the engine; (decoded reply, request authenticator)."""
    packet, authenticator = access_request(attributes)
    answer = engine.handle_auth(packet, SOURCE)
    assert answer is not None, "request was dropped"
    return decode_request(answer[0]), authenticator
