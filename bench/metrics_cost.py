"""What the metrics cost per request: the hot-path hook alone, and the whole engine with
and without it (docs/architecture.md, *Metrics and health*).

1. ``RequestStats.observe`` (the one call ``Engine._log`` makes) against the same
   counting with prometheus_client's ``Counter.labels(...).inc()`` and
   ``Histogram.labels(...).observe()``, CPU time per call (``time.process_time``).
2. ``bench/engine_micro.py``'s PAP engine (guessing protection on, the log call to a
   logger that drops everything), with the engine's ``observe`` real and replaced by a
   no-op, interleaved round by round so both see the same machine load; best of the
   rounds, CPU microseconds per request.

    .venv/bin/python bench/metrics_cost.py [requests] [rounds]
"""

from __future__ import annotations

import os
import sys
import time
import timeit
from collections.abc import Callable

import engine_micro
from prometheus_client import CollectorRegistry, Counter, Histogram

from radius_server.runtime.request_stats import LATENCY_BOUNDS, RequestStats


def _cpu_ns(statement: Callable[[], object], number: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        timeit.timeit(statement, number=number)
        best = min(best, time.process_time() - started)
    return best / number * 1e9


def hook_costs(number: int = 200_000, rounds: int = 7) -> dict[str, float]:
    """Nanoseconds of CPU per call: ours, prometheus_client's, and an empty call."""
    stats = RequestStats()
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["outcome", "reason", "method", "client"], registry=registry)
    histogram = Histogram("h", "h", ["method"], buckets=LATENCY_BOUNDS, registry=registry)

    def ours() -> None:
        stats.observe("accept", "ok", "pap", "lobby", 0.00004)

    def theirs() -> None:
        counter.labels("accept", "ok", "pap", "lobby").inc()
        histogram.labels("pap").observe(0.00004)

    def empty() -> None:
        return None

    return {
        "RequestStats.observe": _cpu_ns(ours, number, rounds),
        "prometheus_client Counter+Histogram": _cpu_ns(theirs, number, rounds),
        "empty call": _cpu_ns(empty, number, rounds),
    }


class _Uncounted(RequestStats):
    """The engine's counters with the hook emptied: the baseline."""

    __slots__ = ()

    def observe(self, outcome: str, reason: str, method: str, client: str, seconds: float) -> None:
        return None


def engine_costs(count: int = 20_000, rounds: int = 9) -> tuple[float, float]:
    """CPU microseconds per PAP request through the engine: (with the hook, without)."""
    packets = engine_micro.requests(count, "pap")
    best = {True: float("inf"), False: float("inf")}
    for _ in range(rounds):
        for hooked in (True, False):
            engine = engine_micro.build()
            if not hooked:
                engine.stats = _Uncounted()
            source = (engine_micro.NAS, 40000)
            started = time.process_time()
            for packet in packets:
                engine.handle_auth(packet, source)
            best[hooked] = min(best[hooked], (time.process_time() - started) / count * 1e6)
    return best[True], best[False]


def main() -> int:
    """Print both measurements and the load they ran under."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, ns in hook_costs().items():
        print(f"{name}: {ns:.0f} ns CPU per call")
    with_hook, without = engine_costs(count, rounds)
    print(
        f"engine PAP: {with_hook:.2f} us CPU/request with the hook, {without:.2f} without "
        f"({with_hook - without:+.2f} us; best of {rounds} interleaved rounds of {count})"
    )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
