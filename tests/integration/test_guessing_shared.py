"""Two server instances on one PostgreSQL enforce one guessing budget, over real UDP."""

from __future__ import annotations

from pathlib import Path

from radius_server.protocol import codes as c
from tests.conftest import Cli
from tests.integration.server_process import running_server
from tests.integration.udp_client import ask as _ask
from tests.integration.udp_client import prepare_site


def test_two_instances_share_one_budget(pg_url: str, tmp_path: Path) -> None:
    """Failures on instance A lock the member on instance B; an admin clear frees both."""
    cli = Cli(pg_url, tmp_path)
    pin = prepare_site(cli)
    wrong = [f"{(int(pin) + k) % 100000:05d}" for k in (11, 22, 33)]
    env = {"RADIUS_THROTTLE_USER_BUDGET": "3"}
    with (
        running_server(pg_url, tmp_path / "a", **env) as a,
        running_server(pg_url, tmp_path / "b", **env) as b,
    ):
        assert (
            _ask(b.auth_port, "ana@example.com", pin, "02-00-00-00-00-0b") == c.Code.ACCESS_ACCEPT
        )
        for k, guess in enumerate(wrong):
            assert _ask(a.auth_port, "ana@example.com", guess, f"02-00-00-00-01-{k:02x}") == (
                c.Code.ACCESS_REJECT
            )
        a.wait_for("lockout_started", scope="user")
        # B follows A's events through the database (within a second when idle).
        b.wait_for("lockout_started", scope="user", source="peer")
        assert _ask(b.auth_port, "ana@example.com", pin, "02-00-00-00-02-01") == (
            c.Code.ACCESS_REJECT
        )
        assert b.wait_for("access", reason="locked_out")["user"] == "ana@example.com"
        # B's known device is not affected by the lock on the email.
        assert _ask(b.auth_port, "ana@example.com", pin, "02-00-00-00-00-0b") == (
            c.Code.ACCESS_ACCEPT
        )
        listed = cli("--json", "lockout", "list")
        assert listed.code == 0 and "ana@example.com" in listed.out
        assert cli("lockout", "clear", "ana@example.com").code == 0
        for server in (a, b):
            server.wait_for("lockout_cleared", user="ana@example.com", source="admin")
        for server in (a, b):
            assert _ask(server.auth_port, "ana@example.com", pin, "02-00-00-00-03-01") == (
                c.Code.ACCESS_ACCEPT
            )
    assert pin not in a.output() + b.output()
