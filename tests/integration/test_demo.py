"""The README's run command: ``radius-server demo`` sets up a ready-to-try server."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Cli
from tests.integration.server_process import running_server
from tests.integration.udp_client import pin_of


def test_demo_sets_up_once_and_serves(sqlite_url: str, tmp_path: Path) -> None:
    """A demo access point and member, trial certificates, the lines to try; idempotent."""
    cli = Cli(sqlite_url, tmp_path)
    first = cli("demo", "--no-serve")
    assert first.code == 0, first.err
    pin = re.search(r"member\s+: demo@example.org, PIN (\d{5})", first.err)
    assert pin is not None
    assert f"radius-server test demo@example.org {pin.group(1)}" in first.err
    assert "radtest" in first.err and "TRIAL certificates" in first.err
    assert (tmp_path / "data" / "certs" / "server.pem").exists()
    again = cli("demo", "--no-serve")
    assert again.code == 0 and f"PIN {pin.group(1)}" in again.err
    assert pin_of(cli, "demo@example.org") == pin.group(1)
    with running_server(sqlite_url, tmp_path / "data") as server:
        probe = cli(
            "test", "demo@example.org", pin.group(1), "--server", f"127.0.0.1:{server.auth_port}"
        )
        assert probe.code == 0 and "Access-Accept" in probe.out
        assert server.wait_for("eap_enabled")
        wrong = cli(
            "test", "demo@example.org", "00001", "--server", f"127.0.0.1:{server.auth_port}"
        )
        assert wrong.code == 1 and "Access-Reject" in wrong.out
