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


class Histogram:
    """Observations in fixed buckets (not cumulative: the scrape sums them up)."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        # One slot per bound plus +Inf.
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one observation of ``seconds``."""
        # bisect_left: a value equal to a bound belongs to that bucket (le = "<=").
        self.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.total += seconds


class RequestStats:
    """Requests by (outcome, reason, method, client), latency by method, cache hits."""

    __slots__ = ("counts", "latency", "reply_cache_hits")

    def __init__(self) -> None:
        self.counts: dict[RequestKey, int] = {}
        self.latency: dict[str, Histogram] = {}
        # Retransmissions answered from the RFC 5080 cache (resent) or dropped while the
        # original is still being decided or held (in_progress).
        self.reply_cache_hits = {"resent": 0, "in_progress": 0}

    def observe(self, outcome: str, reason: str, method: str, client: str, seconds: float) -> None:
        """One request ended: count it and its time from arrival to decision."""
        key = (outcome, reason, method, client)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        histogram = self.latency.get(method)
        if histogram is None:
            histogram = self.latency[method] = Histogram()
        histogram.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        histogram.total += seconds

    def count(self, outcome: str, reason: str, method: str, client: str) -> None:
        """A request that was not timed (a packet from an unknown address)."""
        key = (outcome, reason, method, client)
        self.counts[key] = self.counts.get(key, 0) + 1
