"""A running server on the real PostgreSQL: live changes and database outages."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request
from tests.conftest import PG_ADMIN_URL, Cli
from tests.integration.server_process import running_server
from tests.integration.test_server_udp import SECRET, _pin, _send


def _ask(port: int, email: str, pin: str) -> int | None:
    """Send one PAP request; return the reply code or None."""
    request = encode_request(SECRET.encode(), identifier=1, user_name=email, password=pin.encode())
    reply = _send(port, request.packet)
    return None if reply is None else reply[0]


def test_pin_change_honoured_within_a_second(pg_url: str, tmp_path: Path) -> None:
    """set-pin through the CLI: one second later the old PIN fails and the new one works."""
    cli = Cli(pg_url, tmp_path)
    assert cli("db", "upgrade").code == 0
    assert cli("nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com").code == 0
    old = _pin(cli, "ana@example.com")
    with running_server(pg_url, tmp_path / "data") as server:
        assert _ask(server.auth_port, "ana@example.com", old) == c.Code.ACCESS_ACCEPT
        new = f"{(int(old) + 4321) % 100000:05d}"
        result = cli("customer", "set-pin", "ana@example.com", new)
        assert result.code == 0, result.err
        time.sleep(1.0)  # the product promise: honoured within one second
        assert _ask(server.auth_port, "ana@example.com", old) == c.Code.ACCESS_REJECT
        assert _ask(server.auth_port, "ana@example.com", new) == c.Code.ACCESS_ACCEPT
        assert cli("customer", "disable", "ana@example.com").code == 0
        time.sleep(1.0)
        assert _ask(server.auth_port, "ana@example.com", new) == c.Code.ACCESS_REJECT
        assert cli("customer", "remove", "ana@example.com").code == 0
        time.sleep(1.0)
        assert server.find("customers_updated", removed=1)


def _set_connections(url: str, allowed: bool) -> None:
    name = url.rsplit("/", 1)[1]
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def test_database_outage_serves_last_view_and_recovers(pg_url: str, tmp_path: Path) -> None:
    """With PostgreSQL gone the server keeps answering, logs degraded, then catches up."""
    cli = Cli(pg_url, tmp_path)
    assert cli("db", "upgrade").code == 0
    assert cli("nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com").code == 0
    pin = _pin(cli, "ana@example.com")
    with running_server(pg_url, tmp_path / "data") as server:
        try:
            _set_connections(pg_url, allowed=False)
            server.wait_for("directory_degraded", timeout=10)
            assert _ask(server.auth_port, "ana@example.com", pin) == c.Code.ACCESS_ACCEPT
        finally:
            _set_connections(pg_url, allowed=True)
        server.wait_for("directory_recovered", timeout=10)
        result = cli("--json", "customer", "add", "bo@example.com")
        assert result.code == 0
        bo_pin = json.loads(result.out)["pin"]
        time.sleep(1.0)
        assert _ask(server.auth_port, "bo@example.com", bo_pin) == c.Code.ACCESS_ACCEPT
