"""The README's run command: ``./run.sh`` runs ``radius-server demo``, a ready-to-try server."""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from radius_server.cli import build_parser
from tests.conftest import ROOT, Cli, console_script, require_tool, skip_or_fail
from tests.integration.server_process import (
    ServerProcess,
    running_server,
    spawn,
    terminal_env,
)
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


# -- the README's run command, the way a person uses it (issue 9) ------------------------------


def free_udp_ports(count: int = 2) -> list[int]:
    """UDP ports on 127.0.0.1 nobody uses (right now)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def ports(auth: int, acct: int) -> list[str]:
    """The command line options for these ports."""
    return ["--auth-port", str(auth), "--acct-port", str(acct)]


def printed_lines(banner: str, heading: str, count: int) -> list[str]:
    """The ``count`` indented lines under the banner line starting with ``heading``."""
    lines = banner.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    found = [line.strip() for line in lines[start + 1 : start + 1 + count]]
    assert all(lines[start + 1 + i].startswith("  ") for i in range(count)), banner
    return found


def run_line(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a printed command line verbatim through the shell, as a person pastes it."""
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def stop_with_ctrl_c(server: ServerProcess) -> int:
    """SIGINT (what Ctrl-C sends), then the exit status."""
    server.proc.send_signal(signal.SIGINT)
    try:
        return server.proc.wait(timeout=30)
    finally:
        server.stop()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the checkout's entry points sharing this .venv: run.sh writes nothing here.

    bootstrap.sh skips pip when .venv is installed for this pyproject.toml; if it were
    not, it would re-point the shared editable install at the copy, so check first.
    """
    check = subprocess.run([str(ROOT / "scripts" / "bootstrap.sh"), "--check"], check=False)
    if check.returncode != 0:
        skip_or_fail(".venv is not bootstrapped for this pyproject.toml: run ./test.sh")
    copy = tmp_path / "checkout"
    for name in ("run.sh", "scripts/bootstrap.sh", "pyproject.toml"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def test_run_sh_serves_and_the_lines_it_prints_work(checkout: Path, tmp_path: Path) -> None:
    """./run.sh --auth-port P --acct-port Q serves there; its printed lines work verbatim from a
    clean terminal in the checkout (Access-Accept, and the admin line finds the demo's data);
    Ctrl-C stops it with exit 0 and no traceback; the data is private."""
    radtest = require_tool("radtest")
    auth, acct = free_udp_ports()
    env = terminal_env(tmp_path / "home")
    server = spawn(["./run.sh", *ports(auth, acct)], cwd=checkout, env=env)
    try:
        server.wait_started(timeout=120)
        assert (server.auth_port, server.acct_port) == (auth, acct)
        banner = server.output()
        test_line, radtest_line = printed_lines(banner, "Try it from another terminal", 2)
        assert test_line.startswith(".venv/bin/radius-server test demo@example.org ")
        assert f"--server 127.0.0.1:{auth}" in test_line
        assert radtest_line.startswith("radtest ") and f"127.0.0.1:{auth} 0 " in radtest_line
        probe = run_line(test_line, checkout, env)
        assert probe.returncode == 0 and "Access-Accept" in probe.stdout, probe.stderr
        answer = run_line(radtest_line.replace("radtest", radtest, 1), checkout, env)
        assert answer.returncode == 0 and "Access-Accept" in answer.stdout, answer.stdout
        (admin_line,) = printed_lines(banner, "Manage members", 1)
        added = run_line(admin_line, checkout, env)
        assert added.returncode == 0 and "created you@example.org" in added.stdout, added.stderr
        listed = run_line(".venv/bin/radius-server customer list", checkout, env)
        assert "2 customer(s)" in listed.stdout + listed.stderr, listed
        # The HTTP API line: its token command, as printed, makes a token on the demo's data.
        api_line = next(line for line in banner.splitlines() if line.startswith("HTTP API: "))
        token_command = api_line.removeprefix("HTTP API: ").split(", then ")[0]
        made = run_line(token_command.replace("NAME", "demo"), checkout, env)
        assert made.returncode == 0 and made.stdout.startswith("rsk_"), made.stderr
        assert ".venv/bin/radius-server web (http://127.0.0.1:8080/api/v1/docs)" in api_line
    finally:
        code = stop_with_ctrl_c(server)
    assert code == 0, server.output()[-3000:]
    assert "Traceback" not in server.output()
    assert 'data_dir = "var"' in (checkout / "radius-server.toml").read_text(encoding="utf-8")
    assert stat.S_IMODE((checkout / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((checkout / "var" / "radius-server.db").stat().st_mode) == 0o600


def test_demo_takes_serve_options_and_its_test_line_works_anywhere(tmp_path: Path) -> None:
    """The smoke check: RADIUS_DATA_DIR=... demo --workers 2 on given ports; the first
    ``radius-server test`` line, run as printed without RADIUS_DATA_DIR and elsewhere, gets
    Access-Accept; the admin line carries RADIUS_DATA_DIR; SIGINT exits 0."""
    auth, acct = free_udp_ports()
    data = tmp_path / "data"
    server = spawn(
        [console_script(), "demo", *ports(auth, acct), "--workers", "2"],
        cwd=tmp_path,
        env=terminal_env(tmp_path / "home", RADIUS_DATA_DIR=str(data)),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    try:
        server.wait_started(timeout=60)
        server.wait_for_all("server_started", 2)
        test_line = next(line for line in server.output().splitlines() if " test demo@" in line)
        probe = run_line(test_line.strip(), elsewhere, terminal_env(tmp_path / "home"))
        assert probe.returncode == 0 and "Access-Accept" in probe.stdout, probe.stderr
        (admin_line,) = printed_lines(server.output(), "Manage members", 1)
        assert admin_line.startswith(f"RADIUS_DATA_DIR={data} ")
        added = run_line(admin_line, elsewhere, terminal_env(tmp_path / "home"))
        assert added.returncode == 0, added.stderr
    finally:
        code = stop_with_ctrl_c(server)
    assert code == 0, server.output()[-3000:]
    assert "Traceback" not in server.output()


def test_demo_accepts_every_serve_option() -> None:
    """demo serves through serve's code, so it takes every serve option (it lacked --workers)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    def options(name: str) -> set[str]:
        return {o for a in commands.choices[name]._actions for o in a.option_strings}

    assert options("serve") <= options("demo")
