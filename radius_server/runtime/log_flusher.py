"""Buffered log lines written within a few milliseconds of the first (logging.BufferedLogger).

The first line into an empty buffer arms one timer; when it fires, everything
queued is written. An idle server has no timer at all (idle CPU ~0) and a busy one
writes once per interval. A loop timer costs a few microseconds; the task that did
this before woke through two events and ``wait_for`` per batch, about 100 us of the
loop's CPU each time, a round of EAP's server cost when sign-ins arrive a few
milliseconds apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from radius_server.logging import flush_logs, on_first_line

# Seconds between the first line of a batch and its write.
INTERVAL = 0.02


class LogFlusher:
    """Flushes the process's buffered log lines ``interval`` s after the first of a batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = INTERVAL) -> None:
        self._loop = loop
        self._interval = interval
        self._thread = threading.get_ident()  # the loop's thread: the one that makes this
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def start(self) -> bool:
        """Follow the buffer and write what it holds now (lines logged before the start,
        which armed no timer); False when logging is not buffered (nothing to flush)."""
        if not on_first_line(self._first_line):
            return False
        # After the hook: a line arriving from now on is written by this flush or arms
        # a timer of its own.
        flush_logs()
        return True

    def close(self) -> None:
        """Stop following the buffer and write what it holds now (graceful stop)."""
        self._closed = True
        on_first_line(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        flush_logs()

    def _first_line(self) -> None:
        # Any thread may log; the timer belongs to the loop.
        if threading.get_ident() == self._thread:
            self._arm()
            return
        with contextlib.suppress(RuntimeError):  # the loop closed at exit
            self._loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = self._loop.call_later(self._interval, self._fire)

    def _fire(self) -> None:
        self._timer = None
        flush_logs()
