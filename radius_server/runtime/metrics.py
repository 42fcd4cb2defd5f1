"""What one server process shows on /metrics and /readyz: read on the event loop, exposed
through prometheus_client at scrape time (docs/architecture.md, *Metrics and health*).

``ServerProbe`` holds the parts of a running server (``runtime/server.py`` fills
it in as it builds them, so a scrape during start-up sees what exists); its
``read`` runs on the event loop, which owns every structure it looks at, and
returns plain numbers (``Reading``). ``ServerCollector`` turns a reading into
metric families; ``readiness`` into the /readyz answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from radius_server import __version__
from radius_server.rules.directory import Directory
from radius_server.runtime.request_stats import LATENCY_BOUNDS, RequestKey

DAY = 86400.0
PREFIX = "radius_server_"
# Every metric family a server process exposes (without the _total/_bucket suffixes),
# besides prometheus_client's process ones: the dashboard and the alert rules may only
# use these (tests/unit/test_metrics_docs.py).
REQUESTS = PREFIX + "requests"
DURATION = PREFIX + "request_duration_seconds"
# The accounting writer's counters that say where a record went (runtime/accounting.py).
_STORED = ("database", "spool", "rejected", "refused")


@dataclass(slots=True)
class Reading:
    """One process's numbers at one moment (plain values: safe to hand to another thread)."""

    requests: dict[RequestKey, int] = field(default_factory=dict)
    # method -> (per-bucket counts, not cumulative; sum of seconds)
    latency: dict[str, tuple[list[int], float]] = field(default_factory=dict)
    reply_cache_hits: dict[str, int] = field(default_factory=dict)
    directory_ready: bool = False
    # The RADIUS sockets are open (the engine exists): requests are being answered.
    listening: bool = False
    database_reachable: bool = False
    serving_last_view: bool = False
    members: int = 0
    clients: int = 0
    last_change_age: float | None = None
    eap_enabled: bool = False
    eap_open: int = 0
    eap_evicted: int = 0
    certificate_days: float | None = None
    lockouts: dict[str, int] = field(default_factory=dict)
    spool_records: int | None = None
    accounting_queued: int | None = None
    accounting_records: dict[str, int] = field(default_factory=dict)
    disconnects: dict[str, int] = field(default_factory=dict)
    # ``--workers``: EAP datagrams moved to or from the worker owning the device.
    affinity: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class ServerProbe:
    """The parts of a running server that /metrics reads; None until built."""

    directory: Directory | None = None
    sync: Any = None  # runtime/sync.DirectorySync
    engine: Any = None  # runtime/engine.Engine
    guard: Any = None  # runtime/guard.Guard
    eap: Any = None  # eap/handler.EapHandler, when EAP is on
    accounting: Any = None  # runtime/accounting.AccountingWriter
    disconnector: Any = None  # runtime/disconnector.Disconnector
    affinity: Any = None  # runtime/affinity.AffinityRouter (a worker of --workers)

    def read(self, now: float | None = None) -> Reading:
        """The numbers now. Call on the event loop: it owns everything read here."""
        now = time.time() if now is None else now
        reading = Reading()
        directory = self.directory
        if directory is not None:
            reading.directory_ready = directory.ready
            # Before the first load nothing is known: not reachable until proven.
            reading.database_reachable = directory.ready and not directory.degraded
            reading.serving_last_view = directory.ready and directory.degraded
            reading.members = len(directory.members)
            reading.clients = len(directory.clients)
        if self.sync is not None and self.sync.last_change_at is not None:
            reading.last_change_age = max(0.0, now - self.sync.last_change_at)
        if self.engine is not None:
            reading.listening = True
            stats = self.engine.stats
            reading.requests = stats.counts()
            reading.latency = stats.latency()
            reading.reply_cache_hits = dict(stats.reply_cache_hits)
        if self.eap is not None:
            reading.eap_enabled = True
            reading.eap_open = len(self.eap.sessions)
            reading.eap_evicted = self.eap.sessions.evicted
            expires = self.eap.certificate_expires
            if expires is not None:
                reading.certificate_days = (expires.timestamp() - now) / DAY
        if self.guard is not None:
            lockouts: dict[str, int] = {}
            for scope, _key, _until in self.guard.throttle.locks(now):
                lockouts[scope.value] = lockouts.get(scope.value, 0) + 1
            reading.lockouts = lockouts
        if self.accounting is not None:
            reading.spool_records = self.accounting.spool.records
            reading.accounting_queued = self.accounting.queued
            reading.accounting_records = dict(self.accounting.stats)
        if self.disconnector is not None:
            reading.disconnects = dict(self.disconnector.results)
        if self.affinity is not None:
            reading.affinity = dict(self.affinity.stats)
        return reading


def readiness(reading: Reading) -> tuple[bool, dict[str, Any]]:
    """(ready, the /readyz body): which checks pass, which failed and why.

    Ready means the directory is loaded; the database answers, or the last view is
    being served without it (README, *Database outages*); and, when EAP is on, its
    certificate is valid.
    """
    checks: dict[str, dict[str, Any]] = {}
    if not reading.directory_ready:
        directory = {"ok": False, "detail": "not loaded yet"}
    elif not reading.listening:
        directory = {"ok": False, "detail": "loaded; RADIUS sockets not open yet"}
    else:
        directory = {"ok": True, "detail": f"{reading.members} members, {reading.clients} clients"}
    checks["directory"] = directory
    if reading.database_reachable:
        database = {"ok": True, "detail": "reachable"}
    elif reading.serving_last_view:
        database = {"ok": True, "detail": "unreachable; serving the last view"}
    else:
        database = {"ok": False, "detail": "unreachable and no view loaded"}
    checks["database"] = database
    if reading.eap_enabled:
        days = reading.certificate_days
        valid = days is not None and days > 0
        checks["certificate"] = {
            "ok": valid,
            "detail": f"{days:.1f} days left" if valid else "expired",
        }
    failed = [name for name, check in checks.items() if not check["ok"]]
    return not failed, {"ready": not failed, "failed": failed, "checks": checks}


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def _counter(name: str, doc: str, label: str, counts: Mapping[str, int]) -> Metric:
    """A counter family with one label, a sample per key of ``counts`` in key order."""
    family = CounterMetricFamily(name, doc, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def families(reading: Reading) -> Iterator[Metric]:
    """The metric families of one reading (names in docs/architecture.md)."""
    requests = CounterMetricFamily(
        REQUESTS,
        "Requests answered or dropped, by outcome, reason, method and NAS client name.",
        labels=["outcome", "reason", "method", "client"],
    )
    for key, count in sorted(reading.requests.items()):
        requests.add_metric(list(key), count)
    yield requests
    duration = HistogramMetricFamily(
        DURATION,
        "Seconds from a request's arrival to its decision (reply encoded), by method.",
        labels=["method"],
    )
    for method, (buckets, total) in sorted(reading.latency.items()):
        cumulative, running = [], 0
        for bound, count in zip((*map(_bound, LATENCY_BOUNDS), "+Inf"), buckets, strict=True):
            running += count
            cumulative.append((bound, running))
        duration.add_metric([method], cumulative, sum_value=total)
    yield duration
    yield _counter(
        PREFIX + "reply_cache_hits",
        "Retransmissions met in the RFC 5080 duplicate cache: reply resent, or dropped "
        "while the original is still being decided (in_progress).",
        "result",
        reading.reply_cache_hits,
    )
    ready, _ = readiness(reading)
    yield _gauge(PREFIX + "ready", "1 when /readyz answers 200.", int(ready))
    yield _gauge(
        PREFIX + "directory_ready", "1 once the directory is loaded.", int(reading.directory_ready)
    )
    yield _gauge(
        PREFIX + "database_reachable",
        "1 when the last directory poll reached the database.",
        int(reading.database_reachable),
    )
    yield _gauge(PREFIX + "directory_members", "Members in the in-memory view.", reading.members)
    yield _gauge(PREFIX + "directory_clients", "NAS clients in the view.", reading.clients)
    if reading.last_change_age is not None:
        yield _gauge(
            PREFIX + "directory_last_change_age_seconds",
            "Seconds since the view last applied a change (or a full load).",
            reading.last_change_age,
        )
    if reading.eap_enabled:
        yield _gauge(
            PREFIX + "eap_conversations_open",
            "Unfinished EAP conversations held.",
            reading.eap_open,
        )
        evicted = CounterMetricFamily(
            PREFIX + "eap_conversations_evicted",
            "EAP conversations pushed out of a full table.",
        )
        evicted.add_metric([], reading.eap_evicted)
        yield evicted
        if reading.certificate_days is not None:
            yield _gauge(
                PREFIX + "certificate_expiry_days",
                "Days until the EAP server certificate expires (negative: expired).",
                reading.certificate_days,
            )
    lockouts = GaugeMetricFamily(
        PREFIX + "lockouts_active",
        "Guessing-protection locks in force, by scope (user, device, station, location, global).",
        labels=["scope"],
    )
    for scope in ("user", "device", "station", "location", "global"):
        lockouts.add_metric([scope], reading.lockouts.get(scope, 0))
    yield lockouts
    if reading.spool_records is not None:
        yield _gauge(
            PREFIX + "accounting_spool_records",
            "Accounting records waiting in the disk spool for the database.",
            reading.spool_records,
        )
    if reading.accounting_queued is not None:
        yield _gauge(
            PREFIX + "accounting_queued_records",
            "Accounting records received and not yet written or spooled.",
            reading.accounting_queued,
        )
    yield _counter(
        PREFIX + "accounting_records",
        "Accounting records by where they went (database, spool, rejected, refused, ...).",
        "stored",
        {
            stored: count
            for stored, count in reading.accounting_records.items()
            if stored in _STORED
        },
    )
    yield _counter(
        PREFIX + "disconnect_requests",
        "RFC 5176 Disconnect- and CoA-Requests sent, by result (acked, nak, timeout, "
        "unsupported, error, coa_*).",
        "result",
        reading.disconnects,
    )
    if reading.affinity:
        yield _counter(
            PREFIX + "affinity_datagrams",
            "--workers: EAP Access-Requests forwarded to the worker owning the device, "
            "received from another worker, handled here as the owner was unreachable (local), "
            "or dropped as the owner's queue was full.",
            "result",
            reading.affinity,
        )
    yield _gauge(PREFIX + "info", "Always 1; the version in a label.", 1, {"version": __version__})


def _bound(value: float) -> str:
    """A bucket bound as Prometheus prints it (prometheus_client's own float format)."""
    return repr(float(value))


class ServerCollector(Collector):
    """Reads the server at each scrape through ``read`` (which hops onto the event loop)."""

    def __init__(self, read: Callable[[], Reading]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        """The families of a fresh reading."""
        yield from families(self._read())
