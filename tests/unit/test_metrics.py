"""The metrics' pure parts: hot-path counters, families, readiness, the workers' merge, HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from radius_server.rules.directory import Directory
from radius_server.runtime.metrics import Reading, ServerCollector, ServerProbe, readiness
from radius_server.runtime.metrics_http import LoopGone, ServerEndpoints, on_loop, serve_tcp
from radius_server.runtime.metrics_merge import merge
from radius_server.runtime.request_stats import LATENCY_BOUNDS, RequestStats


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def _exposition(reading: Reading) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(lambda: reading))
    return generate_latest(registry).decode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_observe_counts_by_labels_and_fills_the_right_bucket() -> None:
    stats = RequestStats()
    stats.observe("accept", "ok", "pap", "lobby", 0.00004)
    stats.observe("accept", "ok", "pap", "lobby", LATENCY_BOUNDS[1])  # on a bound: that bucket
    stats.observe("reject", "wrong_pin", "pap", "lobby", 99.0)  # past the last: +Inf
    stats.count("drop", "unknown_client", "none", "(unknown)")
    assert stats.counts() == {
        ("accept", "ok", "pap", "lobby"): 2,
        ("reject", "wrong_pin", "pap", "lobby"): 1,
        ("drop", "unknown_client", "none", "(unknown)"): 1,
    }
    buckets, _total = stats.latency()["pap"]
    assert buckets[0] == 1 and buckets[1] == 1 and buckets[-1] == 1 and sum(buckets) == 3


def test_families_expose_cumulative_histogram_and_exact_counters() -> None:
    stats = RequestStats()
    for seconds in (0.00004, 0.0002, 0.0002, 0.3):
        stats.observe("accept", "ok", "pap", "lobby", seconds)
    reading = Reading(
        requests=stats.counts(),
        latency=stats.latency(),
        directory_ready=True,
        listening=True,
        database_reachable=True,
    )
    samples = _samples(_exposition(reading))
    key = frozenset(
        {"outcome": "accept", "reason": "ok", "method": "pap", "client": "lobby"}.items()
    )
    assert samples[("radius_server_requests_total", key)] == 4
    bucket = "radius_server_request_duration_seconds_bucket"
    assert samples[(bucket, frozenset({("method", "pap"), ("le", "5e-05")}))] == 1
    assert samples[(bucket, frozenset({("method", "pap"), ("le", "0.00025")}))] == 3
    assert samples[(bucket, frozenset({("method", "pap"), ("le", "0.25")}))] == 3
    assert samples[(bucket, frozenset({("method", "pap"), ("le", "+Inf")}))] == 4
    count = ("radius_server_request_duration_seconds_count", frozenset({("method", "pap")}))
    assert samples[count] == 4
    assert samples[("radius_server_ready", frozenset())] == 1


def test_probe_reads_a_directory_before_and_after_loading() -> None:
    directory = Directory()
    probe = ServerProbe(directory=directory)
    assert readiness(probe.read()) == (
        False,
        {
            "ready": False,
            "failed": ["directory", "database"],
            "checks": {
                "directory": {"ok": False, "detail": "not loaded yet"},
                "database": {"ok": False, "detail": "unreachable and no view loaded"},
            },
        },
    )
    directory.ready = directory.degraded = True  # loaded from the snapshot
    ready, body = readiness(probe.read())
    assert not ready and body["checks"]["directory"]["detail"] == (
        "loaded; RADIUS sockets not open yet"
    )
    probe.engine = type("Engine", (), {"stats": RequestStats()})()
    ready, body = readiness(probe.read())
    assert ready and body["checks"]["database"]["detail"] == "unreachable; serving the last view"
    assert probe.read().database_reachable is False


def test_an_expired_certificate_is_not_ready() -> None:
    class Eap:
        sessions: list[object] = []
        certificate_expires = datetime.now(UTC) - timedelta(hours=1)

    Eap.sessions = type("T", (list,), {"evicted": 0})()  # len() and .evicted
    directory = Directory()
    directory.ready = True
    engine = type("Engine", (), {"stats": RequestStats()})()
    reading = ServerProbe(directory=directory, eap=Eap(), engine=engine).read()
    assert reading.certificate_days is not None and reading.certificate_days < 0
    ready, body = readiness(reading)
    assert not ready and body["failed"] == ["certificate"]
    assert body["checks"]["certificate"] == {"ok": False, "detail": "expired"}


def test_merge_sums_counters_and_histograms_and_combines_gauges_by_meaning() -> None:
    one, two = RequestStats(), RequestStats()
    one.observe("accept", "ok", "pap", "lobby", 0.0001)
    two.observe("accept", "ok", "pap", "lobby", 0.002)
    two.observe("reject", "wrong_pin", "pap", "lobby", 0.002)

    def reading(stats: RequestStats, reachable: bool, eap_open: int) -> str:
        return _exposition(
            Reading(
                requests=stats.counts(),
                latency=stats.latency(),
                directory_ready=True,
                database_reachable=reachable,
                serving_last_view=not reachable,
                members=7,
                eap_enabled=True,
                eap_open=eap_open,
                certificate_days=40.0 if reachable else 39.0,
            )
        )

    registry = CollectorRegistry(auto_describe=False)

    class Merged:
        def collect(self) -> Any:
            return merge([reading(one, True, 2), reading(two, False, 3)])

    registry.register(Merged())  # type: ignore[arg-type]
    samples = _samples(generate_latest(registry).decode())
    accept = frozenset(
        {"outcome": "accept", "reason": "ok", "method": "pap", "client": "lobby"}.items()
    )
    assert samples[("radius_server_requests_total", accept)] == 2
    count = ("radius_server_request_duration_seconds_count", frozenset({("method", "pap")}))
    assert samples[count] == 3
    assert samples[("radius_server_directory_members", frozenset())] == 7  # max, not 14
    assert samples[("radius_server_database_reachable", frozenset())] == 0  # the worst
    assert samples[("radius_server_eap_conversations_open", frozenset())] == 5  # summed
    assert samples[("radius_server_certificate_expiry_days", frozenset())] == 39


def test_on_loop_runs_on_the_loop_and_reports_a_stuck_one() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        assert on_loop(loop, threading.get_ident, 2.0) == thread.ident
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
    with pytest.raises(LoopGone):
        on_loop(loop, lambda: 1, 0.2)  # not running: nothing picks the call up
    loop.close()
    with pytest.raises(LoopGone):
        on_loop(loop, lambda: 1, 0.2)  # closed
    stuck = ServerEndpoints(ServerProbe(), loop)
    assert stuck.health()[0] == 503
    assert stuck.ready() == (503, {"ready": False, "failed": ["event_loop"], "checks": {}})
    assert stuck.metrics()[0] == 503


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_http_endpoint_survives_a_failing_answer_and_bad_requests() -> None:
    class Broken:
        def metrics(self) -> tuple[int, bytes, str]:
            raise ValueError("a bug")

        def health(self) -> tuple[int, dict[str, Any]]:
            return 200, {"alive": True}

        def ready(self) -> tuple[int, dict[str, Any]]:
            return 503, {"ready": False}

    log = _Log()
    server = serve_tcp("127.0.0.1", 0, Broken(), log)
    try:
        assert _get(server.port, "/metrics") == (500, b'{"error": "internal error"}\n')
        assert log.events == [
            ("metrics_request_failed", {"path": "/metrics", "error": "ValueError"})
        ]
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"BREW /coffee HTCPCP/1.0\r\n\r\n")
            assert b"Error code: 400" in sock.recv(1000)
        assert _get(server.port, "/healthz") == (200, b'{"alive": true}\n')
        status, body = _get(server.port, "/readyz")
        assert status == 503 and json.loads(body) == {"ready": False}
    finally:
        server.close()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) != 0  # released
