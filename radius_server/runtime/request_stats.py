"""Per-request counters on the hot path: plain dict and list increments, read at scrape time.

The engine calls :meth:`RequestStats.observe` once per request, from its one log
call (``Engine._log``), with what the log line already holds. prometheus_client's
own ``Counter.labels(...).inc()`` costs a lock and a label lookup per call
(several microseconds with four labels); here a request costs one dict update
and one list increment. ``runtime/metrics.py`` turns these numbers into metric
families when Prometheus scrapes (see docs/architecture.md, *Metrics and health*).

Only the event loop writes; the scrape reads on the event loop too (the
metrics thread hands the read over with ``call_soon_threadsafe``), so nothing
here needs a lock.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

# Upper bounds (seconds) of the latency histogram's buckets. PAP is answered in tens
# of microseconds, an EAP round with TLS in a few milliseconds, accounting after its
# group commit in tens of milliseconds; the last bounds catch a stalled loop.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
# The client label of packets from addresses no NAS record matches (never a real name:
# NAS names cannot contain parentheses).
UNKNOWN_CLIENT = "(unknown)"
# The method label when none was decided (a malformed packet, an unsupported code).
NO_METHOD = "none"

RequestKey = tuple[str, str, str, str]


# Slots of one entry: a count per bucket (the bounds, then +Inf), then the sum of seconds.
_SUM = len(LATENCY_BOUNDS) + 1


class RequestStats:
    """Requests by (outcome, reason, method, client) with their latency, and cache hits.

    One dict lookup per request: each label set has one list holding its latency
    buckets and their sum; the count is the buckets' total and the histogram by method
    is the sum over label sets, both worked out at scrape time (``counts``, ``latency``).
    """

    __slots__ = ("entries", "reply_cache_hits", "untimed")

    def __init__(self) -> None:
        self.entries: dict[RequestKey, list[Any]] = {}
        # Requests counted without a time (packets from unknown addresses).
        self.untimed: dict[RequestKey, int] = {}
        # Retransmissions answered from the RFC 5080 cache (resent) or dropped while the
        # original is still being decided or held (in_progress).
        self.reply_cache_hits = {"resent": 0, "in_progress": 0}

    def observe(self, outcome: str, reason: str, method: str, client: str, seconds: float) -> None:
        """One request ended: count it and its time from arrival to decision."""
        key = (outcome, reason, method, client)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = [0] * _SUM + [0.0]
        # bisect_left: a value equal to a bound belongs to that bucket (le = "<=").
        entry[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        entry[_SUM] += seconds

    def count(self, outcome: str, reason: str, method: str, client: str) -> None:
        """A request that was not timed (a packet from an unknown address)."""
        key = (outcome, reason, method, client)
        self.untimed[key] = self.untimed.get(key, 0) + 1

    def counts(self) -> dict[RequestKey, int]:
        """Requests by label set (scrape time)."""
        found = dict(self.untimed)
        for key, entry in self.entries.items():
            found[key] = found.get(key, 0) + sum(entry[:_SUM])
        return found

    def latency(self) -> dict[str, tuple[list[int], float]]:
        """Per method: the per-bucket counts (not cumulative) and the sum of seconds."""
        found: dict[str, tuple[list[int], float]] = {}
        for (_outcome, _reason, method, _client), entry in self.entries.items():
            buckets, total = found.get(method, ([0] * _SUM, 0.0))
            found[method] = ([a + b for a, b in zip(buckets, entry[:_SUM], strict=True)],
                             total + entry[_SUM])  # fmt: skip
        return found
