"""``radius-server web`` as a real process: start, answer, log, stop, and refuse clearly.

The server binds port 0 and reports the real port in its ``web_started`` event
(tests/integration/web_process.py); a real HTTP client (httpx) talks to it.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.store.tokens import TokenRepository
from tests.conftest import console_script, ensure_database
from tests.integration.server_process import ServerProcess, server_env
from tests.integration.web_process import running_web

SEARCH = "needle-in-the-query"


def make_token(url: str, role: Role = Role.READONLY) -> str:
    ensure_database(url)
    engine = database.make_engine(url)
    try:
        return TokenRepository(database.make_session_factory(engine), "test").create("t", role)[1]
    finally:
        engine.dispose()


def run_web(url: str, data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``radius-server web ARGS`` expected to stop on its own (an error)."""
    return subprocess.run(
        [console_script(), "web", *args],
        capture_output=True,
        text=True,
        env={**server_env(url, data_dir), **env},
        timeout=60,
        check=False,
    )


def test_serves_logs_each_request_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    token = make_token(url)
    with running_web(url, tmp_path / "data") as web:
        with httpx.Client(base_url=web.url, timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            listed = http.get(
                "/api/v1/customers",
                params={"search": SEARCH},
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.5"},
            )
            assert listed.status_code == 200 and listed.json()["items"] == []
            refused = http.get("/api/v1/customers", headers={"Authorization": "Bearer rsk_x"})
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            docs = http.get("/api/v1/openapi.json")
            assert docs.status_code == 200 and "/api/v1/customers" in docs.json()["paths"]
        # Not HTTP at all: uvicorn's complaint is a JSON event, not bare text.
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as raw:
            raw.sendall(b"NOT HTTP\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
        lines = web.server.find("http_request", at_least=4)
        assert [(e["method"], e["path"], e["status"]) for e in lines] == [
            ("GET", "/healthz", 200),
            ("GET", "/api/v1/customers", 200),
            ("GET", "/api/v1/customers", 401),
            ("GET", "/api/v1/openapi.json", 200),
        ]
        assert lines[1]["actor"] == "token:t" and lines[2]["actor"] is None
        # No trusted proxy configured: X-Forwarded-For is not believed.
        assert lines[1]["client"] == "127.0.0.1"
        assert all(isinstance(e["ms"], int | float) for e in lines)
        assert web.server.find("uvicorn", where=lambda e: "Invalid HTTP" in e["message"])
    # running_web asserted exit status 0 after SIGTERM.
    output = web.output()
    assert [e["event"] for e in web.server.events][-1] == "web_stopped"
    for line in output.splitlines():
        json.loads(line)  # every line a JSON event
    assert token not in output and token[4:] not in output
    assert SEARCH not in output and "search=" not in output
    assert "Traceback" not in output


def test_trusted_proxy_and_settings_from_the_environment(tmp_path: Path) -> None:
    """RADIUS_WEB_HOST / RADIUS_WEB_PORT / RADIUS_WEB_TRUSTED_PROXIES are honoured."""
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    token = make_token(url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    env = {
        "RADIUS_WEB_HOST": "127.0.0.2",
        "RADIUS_WEB_PORT": str(free),
        "RADIUS_WEB_TRUSTED_PROXIES": "127.0.0.1, 127.0.0.2",
    }
    # running_web passes --host 127.0.0.1 --port 0; this test needs the settings alone.
    proc = subprocess.Popen(
        [console_script(), "web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=server_env(url, tmp_path / "data", **env),
    )
    server = ServerProcess(proc)
    try:
        started = server.wait_for("web_started", timeout=60)
        assert (started["host"], started["port"]) == ("127.0.0.2", free)
        response = httpx.get(
            f"http://127.0.0.2:{free}/api/v1/customers",
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.5"},
            timeout=10,
        )
        assert response.status_code == 200
        line = server.wait_for("http_request", path="/api/v1/customers")
        assert line["client"] == "203.0.113.5"
    finally:
        assert server.stop() == 0, server.output()[-2000:]


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_web(url, tmp_path / "data", "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert "web_started" not in done.stdout


def test_bad_port_is_a_usage_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    for bad in ("70000", "http", "-1"):
        done = run_web(url, tmp_path / "data", "--port", bad)
        assert done.returncode == 2, bad
        assert done.stderr.startswith("usage: radius-server web") and "--port" in done.stderr
        assert done.stdout == ""


def test_missing_sqlite_database_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "radius.db"
    done = subprocess.run(
        [console_script(), "web", "--port", "0"],
        capture_output=True,
        text=True,
        env={
            **server_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "data"),
            "RADIUS_DATABASE_URL": f"sqlite:///{missing}",
        },
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: no database at {missing}")
    assert "db upgrade" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not missing.exists()


def test_postgresql_not_migrated_is_refused_before_listening(pg_url: str, tmp_path: Path) -> None:
    done = run_web(pg_url, tmp_path / "data", "--port", "0")
    assert done.returncode == 1
    assert done.stderr == (
        "error: the database schema is not up to date: run 'radius-server db upgrade'\n"
    )
    assert "web_started" not in done.stdout


@pytest.mark.parametrize("host", ["no-such-host.invalid"])
def test_unknown_host_is_one_clear_line(tmp_path: Path, host: str) -> None:
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    done = run_web(url, tmp_path / "data", "--host", host, "--port", "0")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot listen on {host}:0: ")
    assert len(done.stderr.splitlines()) == 1
