"""``serve --workers N``: one scrape of the supervisor shows every worker's numbers.

Each worker serves /metrics, /healthz and /readyz on its own Unix socket in a
directory only the supervisor's user can enter; the supervisor's endpoint asks
every worker, parses their expositions with prometheus_client's parser and
merges them into one: counters and histograms are summed (a request is counted
by the worker that answered it), gauges are combined by what they mean
(``GAUGE_MERGE``). /readyz is ready when every worker is; /healthz when every
worker's event loop answers. See docs/architecture.md, *Metrics and health*.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from radius_server.runtime.metrics import PREFIX

# Seconds to wait for one worker's answer.
WORKER_TIMEOUT = 5.0
# How a gauge of several workers becomes one number. Unlisted gauges are summed.
GAUGE_MERGE: dict[str, Callable[[Iterable[float]], float]] = {
    # Every worker holds the same view: the worst one is the one to show.
    PREFIX + "ready": min,
    PREFIX + "directory_ready": min,
    PREFIX + "database_reachable": min,
    PREFIX + "directory_members": max,
    PREFIX + "directory_clients": max,
    PREFIX + "directory_last_change_age_seconds": max,
    PREFIX + "certificate_expiry_days": min,
    # Locks are shared through the database: each worker knows (about) all of them.
    PREFIX + "lockouts_active": max,
    PREFIX + "info": max,
    PREFIX + "process_start_time_seconds": min,
    PREFIX + "process_max_fds": min,
    # Summed (the default): EAP conversations open, spool records, queued accounting,
    # process CPU seconds, memory and open files.
}


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a worker's Unix socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def ask_worker(path: str, what: str, timeout: float = WORKER_TIMEOUT) -> tuple[int, bytes]:
    """GET ``what`` from the worker at ``path``: (status, body); OSError when it is away."""
    connection = _UnixConnection(path, timeout)
    try:
        connection.request("GET", what)
        response = connection.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        connection.close()


def merge(expositions: list[str]) -> list[Metric]:
    """One set of families from several workers' text expositions."""
    merged: dict[str, Metric] = {}
    # family -> (sample name, sorted labels) -> values of each worker
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            if family.name not in merged:
                merged[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                values[family.name].setdefault(key, []).append(sample.value)
    for name, family in merged.items():
        combine = GAUGE_MERGE.get(name, sum) if family.type == "gauge" else sum
        for (sample_name, labels), found in values[name].items():
            family.add_sample(sample_name, dict(labels), combine(found))
    return list(merged.values())


class _Merged(Collector):
    def __init__(self, collect: Callable[[], list[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        yield from self._collect()


class SupervisorEndpoints:
    """The answers of ``serve --workers N``: every worker's, merged."""

    def __init__(self, sockets: list[str]) -> None:
        self.sockets = sockets
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Merged(self._collect))

    def _collect(self) -> list[Metric]:
        expositions = []
        for path in self.sockets:
            try:
                status, body = ask_worker(path, "/metrics")
            except OSError:
                continue
            if status == 200:
                expositions.append(body.decode("utf-8"))
        families = merge(expositions)
        workers = GaugeMetricFamily(PREFIX + "workers", "Worker processes started.")
        workers.add_metric([], len(self.sockets))
        up = GaugeMetricFamily(PREFIX + "workers_up", "Workers whose numbers are in this scrape.")
        up.add_metric([], len(expositions))
        return [*families, workers, up]

    def metrics(self) -> tuple[int, bytes, str]:
        """Every worker's exposition, merged."""
        return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _ask_all(self, what: str) -> list[tuple[int, dict[str, Any]]]:
        answers = []
        for path in self.sockets:
            try:
                status, body = ask_worker(path, what)
                answers.append((status, json.loads(body)))
            except (OSError, ValueError) as exc:
                answers.append((503, {"detail": f"worker not answering ({type(exc).__name__})"}))
        return answers

    def health(self) -> tuple[int, dict[str, Any]]:
        """Alive when every worker's event loop answers."""
        answers = self._ask_all("/healthz")
        alive = all(status == 200 for status, _ in answers)
        return (200 if alive else 503), {"alive": alive, "workers": [b for _, b in answers]}

    def ready(self) -> tuple[int, dict[str, Any]]:
        """Ready when every worker is; ``failed`` names each failing check once."""
        answers = self._ask_all("/readyz")
        failed: list[str] = []
        for status, body in answers:
            names = body.get("failed") or ([] if status == 200 else ["worker"])
            failed.extend(name for name in names if name not in failed)
        ready = all(status == 200 for status, _ in answers)
        return (200 if ready else 503), {
            "ready": ready,
            "failed": failed,
            "workers": [body for _, body in answers],
        }
