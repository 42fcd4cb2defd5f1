"""FailureLimiter: failed authentications per source in a sliding window (web/auth.py)."""

from __future__ import annotations

import threading

from radius_server.web.auth import FailureLimiter


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(budget: int = 3, window: float = 60.0, **kwargs: int) -> tuple[FailureLimiter, Clock]:
    clock = Clock()
    return FailureLimiter(budget, window, clock=clock, **kwargs), clock


def test_a_source_may_fail_up_to_its_budget() -> None:
    lim, _clock = limiter(budget=3)
    for _ in range(2):
        lim.fail("a")
        assert lim.retry_after("a") == 0
    lim.fail("a")
    assert lim.retry_after("a") > 0


def test_retry_after_counts_down_to_the_oldest_failure_leaving_the_window() -> None:
    lim, clock = limiter(budget=2, window=60)
    lim.fail("a")
    clock.now += 10
    lim.fail("a")
    assert lim.retry_after("a") == 50
    clock.now += 30
    assert lim.retry_after("a") == 20
    clock.now += 20  # the first failure is now 60 s old: out of the window
    assert lim.retry_after("a") == 0


def test_the_window_slides_rather_than_resets() -> None:
    lim, clock = limiter(budget=2, window=60)
    lim.fail("a")
    clock.now += 50
    lim.fail("a")
    clock.now += 15  # the first has left; one failure inside the window
    assert lim.retry_after("a") == 0
    lim.fail("a")
    assert lim.retry_after("a") == 45  # until the second one leaves


def test_sources_are_counted_apart() -> None:
    lim, _clock = limiter(budget=1)
    lim.fail("a")
    assert lim.retry_after("a") > 0
    assert lim.retry_after("b") == 0


def test_memory_is_bounded_by_pushing_out_the_least_recent_source() -> None:
    lim, clock = limiter(budget=1, max_sources=3)
    for source in ("a", "b", "c"):
        lim.fail(source)
        clock.now += 1
    lim.fail("a")  # "a" is now the most recent; "b" the least
    lim.fail("d")
    assert lim.retry_after("b") == 0
    assert all(lim.retry_after(s) > 0 for s in ("a", "c", "d"))
    assert len(lim._failures) == 3


def test_an_expired_source_is_forgotten() -> None:
    lim, clock = limiter(budget=1, window=5)
    lim.fail("a")
    clock.now += 5
    assert lim.retry_after("a") == 0
    assert "a" not in lim._failures


def test_an_explicit_instant_overrides_the_clock() -> None:
    lim, _clock = limiter(budget=1, window=10)
    lim.fail("a", now=0.0)
    assert lim.retry_after("a", now=4.0) == 6
    assert lim.retry_after("a", now=10.0) == 0


def test_concurrent_failures_are_all_counted() -> None:
    lim, _clock = limiter(budget=10_000)

    def hammer() -> None:
        for _ in range(500):
            lim.fail("a")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lim._failures["a"]) == 4000
