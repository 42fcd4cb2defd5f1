"""A running server on the real PostgreSQL: live changes and database outages."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from radius_server.protocol import codes as c
from tests.conftest import PG_ADMIN_URL, Cli
from tests.integration.server_process import running_server
from tests.integration.udp_client import ask as _ask
from tests.integration.udp_client import prepare_site


def test_pin_change_honoured_within_a_second(pg_url: str, tmp_path: Path) -> None:
    """set-pin through the CLI: one second later the old PIN fails and the new one works."""
    cli = Cli(pg_url, tmp_path)
    old = prepare_site(cli)
    with running_server(pg_url, tmp_path / "data") as server:
        assert _ask(server.auth_port, "ana@example.com", old) == c.Code.ACCESS_ACCEPT
        new = f"{(int(old) + 4321) % 100000:05d}"
        result = cli("customer", "set-pin", "ana@example.com", new)
        assert result.code == 0, result.err
        # The server polls the change feed every sync_interval (0.25 s): wait for the
        # change to be applied (a deadline, not a fixed sleep, on a loaded machine).
        server.wait_for("customers_updated")
        assert _ask(server.auth_port, "ana@example.com", old) == c.Code.ACCESS_REJECT
        assert _ask(server.auth_port, "ana@example.com", new) == c.Code.ACCESS_ACCEPT
        mark = server.mark()
        assert cli("customer", "disable", "ana@example.com").code == 0
        server.wait_for("customers_updated", since=mark)
        assert _ask(server.auth_port, "ana@example.com", new) == c.Code.ACCESS_REJECT
        mark = server.mark()
        assert cli("customer", "remove", "ana@example.com").code == 0
        assert server.wait_for("customers_updated", since=mark)["removed"] == 1


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
    pin = prepare_site(cli)
    with running_server(pg_url, tmp_path / "data") as server:
        try:
            _set_connections(pg_url, allowed=False)
            server.wait_for("directory_degraded", timeout=10)
            assert _ask(server.auth_port, "ana@example.com", pin) == c.Code.ACCESS_ACCEPT
        finally:
            _set_connections(pg_url, allowed=True)
        server.wait_for("directory_recovered", timeout=10)
        mark = server.mark()
        result = cli("--json", "customer", "add", "bo@example.com")
        assert result.code == 0
        bo_pin = json.loads(result.out)["pin"]
        server.wait_for("customers_updated", since=mark)
        assert _ask(server.auth_port, "bo@example.com", bo_pin) == c.Code.ACCESS_ACCEPT
