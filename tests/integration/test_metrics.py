"""/metrics, /healthz and /readyz of the real ``radius-server serve`` (issue 16, deliverable 1).

Real server processes, Debian's radclient (freeradius-utils; under CI=true a missing
one fails), SQLite for the counters and a private PostgreSQL cluster
(tests/integration/pg_cluster.py), frozen under the server, for readiness.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Cli, console_script
from tests.integration.metrics_scrape import (
    get,
    get_json,
    requests_by_labels,
    scrape,
    total,
    value,
)
from tests.integration.pg_cluster import PgCluster, pg_cluster_fixture  # noqa: F401
from tests.integration.radclient_auth import radclient_auth
from tests.integration.server_process import ServerProcess, running_server, server_env, spawn
from tests.integration.udp_client import SECRET, ask, prepare_site

EMAIL = "ana@example.com"
METRICS_ANY_PORT = ("--metrics-port", "0")


def _wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 100000:05d}"


def _sign_in(server: ServerProcess, pin: str, station: str) -> str:
    done = radclient_auth(
        server.auth_port,
        SECRET,
        f'User-Name = "{EMAIL}", User-Password = "{pin}", Calling-Station-Id = "{station}"',
    )
    for answer in ("Access-Accept", "Access-Reject"):
        if f"Received {answer}" in done.stdout:
            return answer
    raise AssertionError(done.stdout + done.stderr)


def _metrics_port(server: ServerProcess) -> int:
    # As long as a start-up may take (ServerProcess.wait_started).
    return int(server.wait_for("metrics_started", timeout=60)["port"])


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Stopping:
    """``contextlib.closing`` for a spawned server: stopped however the block ends."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def close(self) -> None:
        self.server.stop()


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_scrape_after_known_traffic_counts_exactly(sqlite_url: str, tmp_path: Path) -> None:
    """3 accepts and 2 wrong PINs by radclient: exact counters by outcome, reason, method,
    client; the latency histogram counted each request once; EAP's certificate shown."""
    cli = Cli(sqlite_url, tmp_path)
    pin = prepare_site(cli)
    made = cli("certs", "generate", "--hostname", "radius.test.lan")
    assert made.code == 0, made.err
    env = {"RADIUS_DEVICE_LIMIT": "0"}
    with running_server(sqlite_url, tmp_path / "data", *METRICS_ANY_PORT, **env) as server:
        port = _metrics_port(server)
        before = scrape(port)
        assert requests_by_labels(before) == {}
        for n in range(3):
            assert _sign_in(server, pin, f"AA-BB-CC-DD-EE-0{n}") == "Access-Accept"
        for n in range(2):
            assert _sign_in(server, _wrong(pin), f"AA-BB-CC-DD-EE-1{n}") == "Access-Reject"
        samples = scrape(port)
        status, ready = get_json(port, "/readyz")
        health = get_json(port, "/healthz")
    assert requests_by_labels(samples) == {
        ("accept", "ok", "pap", "loopback"): 3.0,
        ("reject", "wrong_pin", "pap", "loopback"): 2.0,
    }
    duration = "radius_server_request_duration_seconds"
    assert value(samples, duration + "_count", method="pap") == 5.0
    assert value(samples, duration + "_bucket", method="pap", le="+Inf") == 5.0
    assert (value(samples, duration + "_sum", method="pap") or 0) > 0
    assert value(samples, "radius_server_directory_members") == 1.0
    assert value(samples, "radius_server_directory_clients") == 1.0
    assert value(samples, "radius_server_database_reachable") == 1.0
    assert value(samples, "radius_server_ready") == 1.0
    assert value(samples, "radius_server_eap_conversations_open") == 0.0
    days = value(samples, "radius_server_certificate_expiry_days")
    assert days is not None and 300 < days < 4000
    assert value(samples, "radius_server_lockouts_active", scope="user") == 0.0
    assert value(samples, "radius_server_accounting_spool_records") == 0.0
    assert (value(samples, "radius_server_process_resident_memory_bytes") or 0) > 0
    assert status == 200 and ready["ready"] is True and ready["failed"] == []
    assert set(ready["checks"]) == {"directory", "database", "certificate"}
    assert health == (200, {"alive": True})
    # The secret is nowhere in what is exposed.
    assert SECRET not in json.dumps(sorted(map(str, samples)))


def test_unknown_clients_and_retransmissions_are_counted(sqlite_url: str, tmp_path: Path) -> None:
    """A duplicate is a reply-cache hit, not a second request; an unknown address a drop."""
    from radius_server.protocol.client import encode_request
    from tests.integration.udp_client import send

    pin = prepare_site(Cli(sqlite_url, tmp_path))
    with running_server(sqlite_url, tmp_path / "data", *METRICS_ANY_PORT) as server:
        port = _metrics_port(server)
        request = encode_request(
            SECRET.encode(), identifier=7, user_name=EMAIL, password=pin.encode()
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.bind(("127.0.0.1", 0))
            for _ in range(2):  # same source, identifier and authenticator: a retransmission
                sock.sendto(request.packet, ("127.0.0.1", server.auth_port))
                assert sock.recv(4096)[0] == 2
        # 127.0.0.2 is no NAS: dropped, counted under the unknown client.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.2", 0))
            sock.sendto(request.packet, ("127.0.0.1", server.auth_port))
        assert send(server.auth_port, b"\x01") is None  # truncated: malformed
        _until(
            lambda: total(scrape(port), "radius_server_requests_total", outcome="drop") == 2,
            10,
            "two drops counted",
        )
        samples = scrape(port)
    assert requests_by_labels(samples) == {
        ("accept", "ok", "pap", "loopback"): 1.0,
        ("drop", "unknown_client", "none", "(unknown)"): 1.0,
        ("drop", "malformed", "none", "loopback"): 1.0,
    }
    assert value(samples, "radius_server_reply_cache_hits_total", result="resent") == 1.0


def test_workers_one_scrape_sums_every_worker(sqlite_url: str, tmp_path: Path) -> None:
    """serve --workers 2: the supervisor's one scrape totals what both workers answered."""
    pin = prepare_site(Cli(sqlite_url, tmp_path))
    env = {"RADIUS_DEVICE_LIMIT": "0"}
    sent_accepts, sent_rejects = 16, 6
    argv = [console_script(), "serve", "--host", "127.0.0.1", "--auth-port", "0"]
    argv += ["--acct-port", "0", "--workers", "2", *METRICS_ANY_PORT]
    server = spawn(argv, cwd=tmp_path, env=server_env(sqlite_url, tmp_path / "data", **env))
    with contextlib.closing(_Stopping(server)):
        # Two workers importing the server on a loaded machine: allow them a minute.
        server.wait_for_all("server_started", 2, timeout=60)
        port = _metrics_port(server)
        mark = server.mark()
        # A new socket (source port) each: the kernel spreads them over the workers.
        for n in range(sent_accepts):
            assert ask(server.auth_port, EMAIL, pin, f"AA-BB-CC-DD-EE-{n:02d}") == 2
        for n in range(sent_rejects):
            assert ask(server.auth_port, EMAIL, _wrong(pin), f"AA-BB-CC-DD-FF-{n:02d}") == 3
        answered = sent_accepts + sent_rejects
        lines = server.find("access", at_least=answered, since=mark, timeout=10)
        samples = scrape(port)
        status, ready = get_json(port, "/readyz")
        health_status, _ = get_json(port, "/healthz")
    workers_seen = {line["request_id"].split("-")[0] for line in lines}
    assert len(workers_seen) == 2, "the kernel gave every request to one worker"
    assert requests_by_labels(samples) == {
        ("accept", "ok", "pap", "loopback"): float(sent_accepts),
        ("reject", "wrong_pin", "pap", "loopback"): float(sent_rejects),
    }
    duration = "radius_server_request_duration_seconds"
    assert value(samples, duration + "_count", method="pap") == answered
    assert value(samples, duration + "_bucket", method="pap", le="+Inf") == answered
    assert value(samples, "radius_server_workers") == 2.0
    assert value(samples, "radius_server_workers_up") == 2.0
    # Gauges are combined by meaning, not summed: both workers hold the same one member.
    assert value(samples, "radius_server_directory_members") == 1.0
    assert value(samples, "radius_server_database_reachable") == 1.0
    assert status == 200 and ready["ready"] is True and len(ready["workers"]) == 2
    assert health_status == 200


def test_metrics_off_binds_no_port(sqlite_url: str, tmp_path: Path) -> None:
    """metrics_enabled = no: the configured port stays free, and no metrics_started line."""
    prepare_site(Cli(sqlite_url, tmp_path))
    port = _free_tcp_port()
    env = {"RADIUS_METRICS_ENABLED": "no", "RADIUS_METRICS_PORT": str(port)}
    with running_server(sqlite_url, tmp_path / "data", **env) as server:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
        assert server.find("metrics_started", timeout=0) == []


def test_metrics_port_in_use_stops_start_up_with_one_line(sqlite_url: str, tmp_path: Path) -> None:
    """A taken metrics port fails like a taken RADIUS port: one line naming it, exit 1."""
    cli = Cli(sqlite_url, tmp_path)
    prepare_site(cli)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ("--host", "127.0.0.1", "--auth-port", "0", "--acct-port", "0")
        for extra in ((), ("--workers", "2")):
            done = cli("serve", *args, *extra, "--metrics-port", port, timeout=60)
            assert done.code != 0
            assert f"127.0.0.1:{port} (HTTP metrics" in done.err, done.err
            assert "Traceback" not in done.err


def test_bad_http_requests_do_not_stop_the_endpoint(sqlite_url: str, tmp_path: Path) -> None:
    """Garbage, a POST, an unknown path and a silent client: answered or cut, then it goes on."""
    prepare_site(Cli(sqlite_url, tmp_path))
    with running_server(sqlite_url, tmp_path / "data", *METRICS_ANY_PORT) as server:
        port = _metrics_port(server)
        answers = []
        for raw in (b"\x00\xff garbage\r\n\r\n", b"POST /metrics HTTP/1.0\r\n\r\n", b"GET /x"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(raw)
                # The half-sent request is cut after REQUEST_TIMEOUT: the read ends then.
                answers.append(sock.recv(100))
        assert answers[1].startswith(b"HTTP/1.0 501 ")
        assert answers[2] == b""
        assert get(port, "/nothing")[0] == 404
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/metrics?x=1")[0] == 200


def test_readyz_not_ready_until_the_directory_loads(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """PostgreSQL frozen at start, no snapshot: alive but 503 naming directory and
    database; thawed, the load completes and /readyz turns 200."""
    url = pg_cluster.url
    prepare_site(Cli(url, tmp_path))
    env = server_env(url, tmp_path / "fresh", RADIUS_DATABASE_TIMEOUT="20")
    argv = [console_script(), "serve", "--host", "127.0.0.1", "--auth-port", "0"]
    argv += ["--acct-port", "0", *METRICS_ANY_PORT]
    pg_cluster.freeze()
    server = spawn(argv, cwd=tmp_path, env=env)
    try:
        port = _metrics_port(server)
        status, body = get_json(port, "/readyz")
        assert status == 503, body
        assert body["failed"] == ["directory", "database"]
        assert get_json(port, "/healthz") == (200, {"alive": True})
        samples = scrape(port)
        assert value(samples, "radius_server_ready") == 0.0
        assert value(samples, "radius_server_directory_ready") == 0.0
        pg_cluster.thaw()
        server.wait_started()
        status, body = get_json(port, "/readyz")
        assert status == 200 and body["failed"] == [], body
        assert value(scrape(port), "radius_server_database_reachable") == 1.0
    finally:
        pg_cluster.thaw()
        server.stop()


def test_serving_from_the_snapshot_is_ready_with_database_unreachable(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """Started while PostgreSQL is frozen, from the last view: ready, database_reachable 0;
    once it answers again, database_reachable 1."""
    url = pg_cluster.url
    pin = prepare_site(Cli(url, tmp_path))
    data = tmp_path / "data"
    env = {"RADIUS_DATABASE_TIMEOUT": "2"}
    with running_server(url, data, **env) as server:
        server.wait_for("directory_snapshot_saved", timeout=10)
    pg_cluster.freeze()
    try:
        with running_server(url, data, *METRICS_ANY_PORT, **env) as server:
            port = _metrics_port(server)
            server.wait_for("directory_loaded", source="snapshot")
            assert ask(server.auth_port, EMAIL, pin) == 2
            status, body = get_json(port, "/readyz")
            assert status == 200, body
            assert body["checks"]["database"] == {
                "ok": True,
                "detail": "unreachable; serving the last view",
            }
            samples = scrape(port)
            assert value(samples, "radius_server_database_reachable") == 0.0
            assert value(samples, "radius_server_ready") == 1.0
            pg_cluster.thaw()
            _until(
                lambda: value(scrape(port), "radius_server_database_reachable") == 1.0,
                30,
                "database_reachable 1 after the thaw",
            )
            assert get_json(port, "/readyz")[1]["checks"]["database"]["detail"] == "reachable"
    finally:
        pg_cluster.thaw()
