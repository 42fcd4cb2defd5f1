"""Files holding PINs, secrets or keys are 0600 and the directories we create 0700,
whatever the umask (each command runs under ``umask 000``, the worst case); and the
demo never prints a database password."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

from radius_server.private_files import create_private_file
from tests.conftest import Cli, console_script
from tests.integration.server_process import spawn, terminal_env


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def umask_000(*argv: str) -> list[str]:
    """The console script with ``argv``, run by a shell with umask 000."""
    return ["bash", "-c", 'umask 000 && exec "$@"', "umask000", console_script(), *argv]


def under_umask_000(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the console script with umask 000; its output captured."""
    return subprocess.run(
        umask_000(*argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_first_serve_creates_a_private_database_and_data_dir(tmp_path: Path) -> None:
    """serve --workers 2 on the default SQLite in a new data dir (umask 000) starts; the
    directories it makes are 0700; the database and the -wal and -shm files SQLite adds
    while serving are 0600."""
    data = tmp_path / "new" / "data"
    env = terminal_env(tmp_path / "home", RADIUS_DATA_DIR=str(data), RADIUS_LOG_FORMAT="json")
    serve = ("serve", "--host", "127.0.0.1", "--auth-port", "0", "--acct-port", "0")
    server = spawn(umask_000(*serve, "--workers", "2"), cwd=tmp_path, env=env)
    try:
        server.wait_for_all("server_started", 2, timeout=60)  # they used to race to create it
        database = data / "radius-server.db"
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert mode(data) == 0o700 and mode(data.parent) == 0o700
    finally:
        assert server.stop() == 0


def test_sqlite_gives_its_journal_the_database_files_mode(tmp_path: Path) -> None:
    """What private -journal files rely on (the server uses WAL, but a rollback journal
    can appear with other tools): SQLite copies the database file's mode, past the umask."""
    path = tmp_path / "plain.db"
    previous = os.umask(0)
    try:
        assert create_private_file(path)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("CREATE TABLE t (x)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (1)")
        journal = tmp_path / "plain.db-journal"
        assert journal.exists() and mode(journal) == 0o600
        conn.execute("COMMIT")
        conn.close()
    finally:
        os.umask(previous)
    assert mode(path) == 0o600


def test_customer_export_file_is_private(sqlite_cli: Cli, tmp_path: Path) -> None:
    """customer export FILE (PINs inside) is 0600, also when it replaces a 0644 file."""
    assert sqlite_cli("customer", "add", "ana@example.com").code == 0
    fresh, old = tmp_path / "fresh.csv", tmp_path / "old.csv"
    old.write_text("stale\n", encoding="utf-8")
    old.chmod(0o644)
    for target in (fresh, old):
        export = ("customer", "export", str(target))
        result = under_umask_000(*export, env=sqlite_cli.env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert mode(target) == 0o600
        assert "ana@example.com" in target.read_text(encoding="utf-8")


def test_certs_generate_keys_are_private_also_when_forced(tmp_path: Path) -> None:
    """certs generate (umask 000) in a new data dir: data dir and certs/ 0700, keys 0600,
    certificates 0644; --force over a server.key an older version left 0644 makes it 0600."""
    data = tmp_path / "data"
    env = terminal_env(tmp_path / "home", RADIUS_DATA_DIR=str(data))
    generate = ("certs", "generate", "--hostname", "radius.test.lan")
    made = under_umask_000(*generate, env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    certs = data / "certs"
    assert mode(data) == 0o700 and mode(certs) == 0o700
    assert mode(certs / "ca.key") == 0o600 and mode(certs / "server.key") == 0o600
    assert mode(certs / "server.pem") == 0o644 and mode(certs / "ca.pem") == 0o644
    (certs / "server.key").chmod(0o644)
    forced = under_umask_000(*generate, "--force", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert mode(certs / "server.key") == 0o600


def test_demo_never_prints_the_database_password(pg_url: str, tmp_path: Path) -> None:
    """demo on a PostgreSQL URL with a password shows the URL masked, the password nowhere."""
    password = "s3cret-db-pw"
    url = pg_url.replace("://postgres@", f"://postgres:{password}@", 1)
    assert password in url  # trust authentication ignores it; the URL still carries it
    data = str(tmp_path / "data")
    env = terminal_env(tmp_path / "home", RADIUS_DATABASE_URL=url, RADIUS_DATA_DIR=data)
    assert under_umask_000("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    shown = under_umask_000("demo", "--no-serve", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert password not in shown.stdout + shown.stderr
    assert "postgres:***@" in shown.stderr
    assert "$RADIUS_DATABASE_URL" in shown.stderr  # how another terminal reaches this data
