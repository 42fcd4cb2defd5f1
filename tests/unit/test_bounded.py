"""Blocking calls with a deadline: a stuck call is reported at once and never piles up."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from radius_server.runtime.bounded import (
    BoundedCalls,
    DatabaseTimeout,
    describe_error,
    repeat_until_stopped,
)


def test_a_stuck_call_is_reported_and_blocks_no_thread_pile_up() -> None:
    """Overrun: DatabaseTimeout; while it is stuck: fail fast; once it returns: work again."""
    release = threading.Event()
    calls = BoundedCalls("test", deadline=0.2)

    async def scenario() -> None:
        started = time.monotonic()
        with pytest.raises(DatabaseTimeout):
            await calls.run(release.wait)
        assert time.monotonic() - started < 5
        with pytest.raises(DatabaseTimeout, match="still waiting"):
            await calls.run(lambda: 1)
        release.set()
        deadline = time.monotonic() + 5
        while True:
            try:
                assert await calls.run(lambda: 42) == 42
                return
            except DatabaseTimeout:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        calls.close()


def test_errors_pass_through_and_are_described_in_one_line() -> None:
    """The call's own exception reaches the caller; describe_error gives its first line."""
    calls = BoundedCalls("test", deadline=5)

    def fail() -> None:
        raise ValueError("first line\nsecond line")

    with pytest.raises(ValueError) as caught:
        asyncio.run(calls.run(fail))
    calls.close()
    assert describe_error(caught.value) == "first line"
    assert describe_error(RuntimeError()) == "RuntimeError"


def test_a_loop_repeats_its_step_and_a_stop_ends_the_wait_at_once() -> None:
    """The shared loop skeleton: steps repeat; stop cuts a long interval short."""

    async def run(interval: float, stop_after: int) -> int:
        stop = asyncio.Event()
        steps = 0

        async def step() -> None:
            nonlocal steps
            steps += 1
            if steps == stop_after:
                asyncio.get_running_loop().call_later(0.01, stop.set)

        await asyncio.wait_for(repeat_until_stopped(step, stop, interval), 30)
        return steps

    assert asyncio.run(run(0.001, 3)) >= 3
    # A day between steps: only the stop request can end the first wait.
    assert asyncio.run(run(86_400, 1)) == 1
