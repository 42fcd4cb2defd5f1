"""Reading a running server's /metrics, /healthz and /readyz in tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET http://127.0.0.1:``port````path``: (status, body), errors included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET a JSON endpoint: (status, parsed body)."""
    status, body = get(port, path)
    return status, json.loads(body)


def scrape(port: int) -> Samples:
    """Every sample of /metrics, by (sample name, labels)."""
    status, body = get(port, "/metrics")
    assert status == 200, body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode("utf-8"))
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample ``name`` with exactly ``labels``, or None."""
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def requests_by_labels(samples: Samples) -> dict[tuple[str, str, str, str], float]:
    """radius_server_requests_total as (outcome, reason, method, client) -> count."""
    found = {}
    for (name, labels), count in samples.items():
        if name == "radius_server_requests_total":
            tags = dict(labels)
            found[(tags["outcome"], tags["reason"], tags["method"], tags["client"])] = count
    return found
