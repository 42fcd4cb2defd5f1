"""The wake-up of a background loop (runtime/listener.py): notified, coalesced, or polled."""

from __future__ import annotations

import asyncio
import itertools

from radius_server.runtime.listener import Wakeup, follow


def _run(wake: Wakeup | None, script) -> list[float]:  # type: ignore[no-untyped-def]
    """Run a loop whose step records the loop time; ``script(wake, stop, steps)`` drives it."""

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        steps: list[float] = []

        async def step() -> None:
            steps.append(loop.time())
            await asyncio.sleep(0.05)  # a read takes a while: notifications arrive meanwhile

        task = asyncio.create_task(follow(step, stop, 0.01, wake))
        await script(wake, stop, steps)
        stop.set()
        await asyncio.wait_for(task, 5)
        return steps

    return asyncio.run(scenario())


def _listening(wake: Wakeup) -> Wakeup:
    wake.listening = lambda: True
    return wake


def test_a_burst_of_notifications_costs_one_more_read() -> None:
    async def script(wake: Wakeup, _stop: asyncio.Event, steps: list[float]) -> None:
        await asyncio.sleep(0.01)  # inside the first read
        for _ in range(50):
            wake.notify()
        await asyncio.sleep(0.3)

    steps = _run(_listening(Wakeup(fast=0.01, safety=60)), script)
    assert len(steps) == 2


def test_listening_loop_waits_for_a_notification() -> None:
    async def script(wake: Wakeup, _stop: asyncio.Event, steps: list[float]) -> None:
        await asyncio.sleep(0.3)
        assert len(steps) == 1  # no poll while listening (safety: a minute)
        wake.notify()
        await asyncio.sleep(0.2)
        assert len(steps) == 2

    _run(_listening(Wakeup(fast=0.01, safety=60)), script)


def test_not_listening_or_urgent_polls_fast() -> None:
    async def polls(wake: Wakeup, _stop: asyncio.Event, steps: list[float]) -> None:
        await asyncio.sleep(0.5)
        assert len(steps) >= 3

    _run(Wakeup(fast=0.01, safety=60), polls)  # not listening
    _run(_listening(Wakeup(fast=0.01, safety=60, urgent=lambda: True)), polls)


def test_soon_reads_within_the_fast_interval_once() -> None:
    async def script(wake: Wakeup, _stop: asyncio.Event, steps: list[float]) -> None:
        await asyncio.sleep(0.1)
        for _ in range(10):
            wake.soon()
        await asyncio.sleep(0.4)
        assert len(steps) == 2

    _run(_listening(Wakeup(fast=0.1, safety=60)), script)


def test_min_gap_spaces_reads_of_a_busy_table() -> None:
    async def script(wake: Wakeup, _stop: asyncio.Event, steps: list[float]) -> None:
        for _ in range(30):
            wake.notify()
            await asyncio.sleep(0.02)

    steps = _run(_listening(Wakeup(fast=0.01, safety=60, min_gap=0.2)), script)
    assert len(steps) >= 2
    assert all(b - a >= 0.2 - 1e-3 for a, b in itertools.pairwise(steps))


def test_stop_ends_the_wait_at_once() -> None:
    async def script(_wake: Wakeup, stop: asyncio.Event, _steps: list[float]) -> None:
        await asyncio.sleep(0.1)

    # Returns (within the 5 s bound of _run) although the safety interval is a minute.
    assert len(_run(_listening(Wakeup(fast=0.01, safety=60)), script)) == 1
