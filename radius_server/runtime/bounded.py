"""Blocking database calls from asyncio, one at a time, each with a deadline.

A background loop (directory sync, guessing-protection sharing) must notice a
database that stopped answering within seconds, and must not pile up threads
while it stays frozen. Each loop owns one worker thread: a call that overruns
its deadline is reported at once as ``DatabaseTimeout``, its thread is left to
finish (the store's watchdog cuts its connection), and until it has, further
calls fail fast instead of queueing behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class DatabaseTimeout(TimeoutError):
    """The database gave no answer within the deadline."""


class BoundedCalls:
    """Runs blocking calls in one dedicated thread, each bounded by a deadline."""

    def __init__(self, name: str, deadline: float) -> None:
        self.deadline = deadline
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: Future[Any] | None = None

    async def run(self, call: Callable[..., T], *args: Any, deadline: float | None = None) -> T:
        """``call(*args)`` in the worker thread; DatabaseTimeout if it overruns."""
        limit = self.deadline if deadline is None else deadline
        if self._pending is not None and not self._pending.done():
            raise DatabaseTimeout("an earlier call is still waiting for the database")
        future = self._executor.submit(call, *args)
        self._pending = future
        waiting = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiting}, timeout=limit)
        if not done:
            # Its outcome arrives later and is dropped: retrieve it so asyncio
            # does not report an exception nobody looked at.
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise DatabaseTimeout(f"no answer from the database within {limit:g} s")
        return waiting.result()

    def close(self) -> None:
        """Stop the worker once it is idle (a stuck call is left to its watchdog).

        Call after the last ``run`` returned: a call still queued would be cancelled.
        """
        self._executor.shutdown(wait=False)


async def repeat_until_stopped(
    step: Callable[[], Awaitable[None]], stop: asyncio.Event, interval: float
) -> None:
    """Await ``step()``, then wait ``interval`` seconds or until ``stop`` is set; repeat.

    The skeleton of every background loop: a stop request ends the wait at once,
    so shutting down never waits out an interval.
    """
    while not stop.is_set():
        await step()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def describe_error(error: BaseException) -> str:
    """One line about a storage failure: the driver's message, which names no row value."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0][:200] if lines else type(cause).__name__
