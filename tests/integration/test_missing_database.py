"""No silent empty databases: a mistyped SQLite path or data dir is reported, not created.

Only ``db upgrade``, ``demo`` and ``serve`` on the default SQLite (a file in
data_dir) may create one; every other command names where it looked, which
setting chose that place, and the command that creates a database.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import console_script
from tests.integration.server_process import terminal_env

ADMIN_COMMANDS = [
    ("customer", "list"),
    ("customer", "add", "ana@example.com"),
    ("customer", "export"),
    ("nas", "list"),
    ("lockout", "list"),
    ("template", "show"),
    ("db", "status"),
    ("test", "demo@example.org", "12345"),
]


def run(
    *argv: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The console script, its output captured."""
    return subprocess.run(
        [console_script(), *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("argv", ADMIN_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_admin_command_on_a_mistyped_data_dir_creates_nothing(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    """RADIUS_DATA_DIR with a typo: exit 1, one line naming the path, the variable and
    'db upgrade'; no directory, no database (not "0 customer(s)" from a new empty one)."""
    typo = tmp_path / "dta"
    env = terminal_env(tmp_path / "home", RADIUS_DATA_DIR=str(typo))
    result = run(*argv, env=env, cwd=tmp_path)
    assert result.returncode == 1, result
    assert str(typo / "radius-server.db") in result.stderr
    assert "$RADIUS_DATA_DIR" in result.stderr and "radius-server db upgrade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "customer(s)" not in result.stdout
    assert not typo.exists()


def test_mistyped_database_url_is_refused_by_serve_too(tmp_path: Path) -> None:
    """An explicit sqlite:/// URL naming a missing file: serve and admin commands refuse it."""
    typo = tmp_path / "radius-sever.db"
    env = terminal_env(tmp_path / "home", RADIUS_DATABASE_URL=f"sqlite:///{typo}")
    for argv in (("customer", "list"), ("serve", "--auth-port", "0", "--acct-port", "0")):
        result = run(*argv, env=env, cwd=tmp_path)
        assert result.returncode == 1, result
        assert str(typo) in result.stderr and "$RADIUS_DATABASE_URL" in result.stderr
        assert "Traceback" not in result.stderr
    assert not typo.exists()


def test_mistyped_data_dir_in_the_local_config_file_is_named(tmp_path: Path) -> None:
    """./radius-server.toml with a typo: the message names the file that chose the path."""
    (tmp_path / "radius-server.toml").write_text('data_dir = "vra"\n', encoding="utf-8")
    result = run("customer", "list", env=terminal_env(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode == 1
    assert str(tmp_path / "vra" / "radius-server.db") in result.stderr
    assert str(tmp_path / "radius-server.toml") in result.stderr
    assert not (tmp_path / "vra").exists()


def test_default_place_says_no_config_was_found(tmp_path: Path) -> None:
    """The second-terminal trap: nothing set; the message says no config file was found."""
    result = run("customer", "list", env=terminal_env(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode == 1
    default = tmp_path / "home" / ".local" / "share" / "radius-server" / "radius-server.db"
    assert str(default) in result.stderr and "radius-server.toml" in result.stderr
    assert not default.parent.exists()


def test_db_upgrade_creates_the_database_then_commands_use_it(tmp_path: Path) -> None:
    """The way out the message names works: db upgrade creates it, customer list reads it."""
    env = terminal_env(tmp_path / "home", RADIUS_DATA_DIR=str(tmp_path / "data"))
    assert run("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    listed = run("customer", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "0 customer(s)" in listed.stdout


def test_check_config_names_the_local_config_file_and_the_missing_database(
    tmp_path: Path,
) -> None:
    """check-config says which file it read (./radius-server.toml is read unnamed) and
    reports a missing database as a problem, creating nothing."""
    local = tmp_path / "radius-server.toml"
    local.write_text('data_dir = "var"\n', encoding="utf-8")
    result = run("check-config", env=terminal_env(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode == 1
    assert f"# config file: {local}" in result.stdout
    assert f"data_dir = '{tmp_path / 'var'}'" in result.stdout
    assert f"no database at {tmp_path / 'var' / 'radius-server.db'}" in result.stderr
    assert not (tmp_path / "var").exists()
