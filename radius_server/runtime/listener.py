"""Changes pushed, not polled: PostgreSQL notifications wake the background loops.

Triggers (migration 0011) NOTIFY a channel whenever a change-feed row, a
guessing-protection event, a session or a disconnect job is written, by any
writer. One :class:`Listener` per server process LISTENs on a dedicated
connection in a thread and wakes the :class:`Wakeup` of each loop following
that table, which then reads from its cursor as before: the tables stay the
source of truth, a notification only says "look now" (docs/architecture.md,
"Changes pushed, not polled").

A notification can be missed (the connection dropped, a writer bypassed the
trigger): while listening, every loop still reads every ``safety`` seconds; when
the connection is lost it polls every ``fast`` seconds again until the listener
is back (reconnecting with backoff), and every loop reads once when listening
starts, for what was written while nobody listened. SQLite has no
notifications: runtime/sqlite_watch.py wakes the same loops when the database
file's data version changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from radius_server.runtime.bounded import describe_error, repeat_until_stopped

# Channels, one per followed table (the triggers of migration 0011 name them).
CHANGES = "radius_changes"
THROTTLE = "radius_throttle"
SESSIONS = "radius_sessions"
DISCONNECTS = "radius_disconnects"
CHANNELS = (CHANGES, THROTTLE, SESSIONS, DISCONNECTS)

# Reconnection waits double from the first to the last.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


class Wakeup:
    """When one background loop reads next: at once when notified, else after a timeout.

    ``fast``: the poll interval while nobody listens (and while ``urgent()``, e.g.
    the database is away, or own events wait to be written); ``safety``: the
    interval while listening. ``min_gap``: at least this long between two reads
    of one loop, so a busy table's notifications cost no more reads than polling.
    Used from the event loop's thread only (the listener hands over with
    ``call_soon_threadsafe``).
    """

    def __init__(
        self,
        fast: float,
        safety: float,
        *,
        min_gap: float = 0.0,
        urgent: Callable[[], bool] | None = None,
    ) -> None:
        self.fast = fast
        self.safety = safety
        self.min_gap = min_gap
        self.urgent = urgent
        self.listening: Callable[[], bool] = lambda: False
        self._event = asyncio.Event()
        self._soon: asyncio.TimerHandle | None = None

    def notify(self) -> None:
        """Read as soon as the current wait allows (several calls: one read)."""
        self._event.set()

    def soon(self) -> None:
        """Read within ``fast`` seconds: own events batch as they did when polling."""
        if self._soon is None and self.listening():
            self._soon = asyncio.get_running_loop().call_later(self.fast, self._fire)

    def _fire(self) -> None:
        self._soon = None
        self._event.set()

    def interval(self) -> float:
        """How long the next wait may last."""
        if not self.listening() or (self.urgent is not None and self.urgent()):
            return self.fast
        return self.safety

    async def repeat(self, step: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
        """Await ``step()`` until ``stop``, waiting between for a notification or the interval."""
        while not stop.is_set():
            started = time.monotonic()
            # Cleared before the read: a notification arriving during it means one more
            # read, which sees everything committed since (bursts coalesce).
            self._event.clear()
            await step()
            await first_of(stop, self._event, self.interval())
            gap = self.min_gap - (time.monotonic() - started)
            if gap > 0 and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=gap)


async def first_of(a: asyncio.Event, b: asyncio.Event, timeout: float | None) -> None:
    """Return when either event is set, or after ``timeout`` seconds (None: no limit)."""
    if a.is_set() or b.is_set():
        return
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


async def follow(
    step: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    interval: float,
    wake: Wakeup | None,
) -> None:
    """A background loop's skeleton: by notification when ``wake`` is given, else by polling."""
    if wake is None:
        await repeat_until_stopped(step, stop, interval)
    else:
        await wake.repeat(step, stop)


class WakeupSource:
    """Wakes the loops' :class:`Wakeup` from a thread: PostgreSQL's :class:`Listener`
    and SQLite's watcher (runtime/sqlite_watch.py) differ only in what they wait on.

    ``listening`` is true while the source works: the loops then read every
    ``safety`` seconds unless woken. Subclasses implement ``_run`` (the thread).
    """

    thread_name = "wakeups"
    # Its log events: <prefix>_started, _lost, _failed, _stopped.
    event_prefix = "wakeups"

    def __init__(self, log: Any) -> None:
        self.log = log
        self.listening = False
        self._failing = False
        self._wakeups: dict[str, list[Wakeup]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # A pipe the thread selects on beside what it waits for: stop() wakes it at once.
        self._stop_r, self._stop_w = os.pipe()

    def wakeup(
        self,
        channel: str,
        fast: float,
        safety: float,
        *,
        min_gap: float = 0.0,
        urgent: Callable[[], bool] | None = None,
    ) -> Wakeup:
        """A Wakeup notified on ``channel`` (register before start())."""
        wake = Wakeup(fast, safety, min_gap=min_gap, urgent=urgent)
        wake.listening = lambda: self.listening
        self._wakeups.setdefault(channel, []).append(wake)
        return wake

    def start(self) -> None:
        """Start the daemon thread (call from the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close what it holds (blocks up to ``timeout``)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # stuck connecting: it exits on its own; its pipe stays open till then
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        raise NotImplementedError

    # -- the thread's state: working, failing, stopped --------------------------------

    def _up(self, **fields: Any) -> None:
        """Working (again): the loops wait to be woken, and each reads once now for
        whatever was written while nothing watched."""
        self._failing = False
        self.listening = True
        self._hand_over(None)
        self._emit("info", f"{self.event_prefix}_started", **fields)

    def _down(self, exc: BaseException, **fields: Any) -> None:
        """Not working: every loop polls fast from now on (and reads once now);
        logged when it stops working, or once per outage if it never started."""
        if self.listening:
            self.listening = False
            self._hand_over(None)
            self._emit("warning", f"{self.event_prefix}_lost", error=describe_error(exc), **fields)
        elif not self._failing:
            self._emit(
                "warning", f"{self.event_prefix}_failed", error=describe_error(exc), **fields
            )
        self._failing = True

    def _stopped(self) -> None:
        if self.listening:
            self.listening = False
            self._emit("info", f"{self.event_prefix}_stopped")

    # -- the event loop's side -----------------------------------------------------

    def _emit(self, level: str, event: str, **fields: Any) -> None:
        """Log from the thread through the event loop (the log buffer is the loop's)."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            self._loop.call_soon_threadsafe(lambda: getattr(self.log, level)(event, **fields))

    def _wake(self, channels: set[str] | None) -> None:
        """Notify the loops of ``channels`` (None: all of them)."""
        for channel, wakeups in self._wakeups.items():
            if channels is None or channel in channels:
                for wake in wakeups:
                    wake.notify()

    def _hand_over(self, channels: set[str] | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake, channels)

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if stop() is called."""
        select.select([self._stop_r], [], [], seconds)


class Listener(WakeupSource):
    """LISTENs on a dedicated PostgreSQL connection in a thread and wakes the loops.

    ``connect`` returns a new psycopg connection (the thread makes it autocommit
    and closes it). After ``health_interval`` seconds without a notification it
    checks that the database answers within ``answer_timeout`` (one tiny query).
    ``ignore`` maps a channel to the payload of this process's own writes, which
    wake nobody. Logs ``listen_started``, ``listen_lost``,
    ``listen_failed`` (connecting failed; once per outage) and ``listen_stopped``.
    """

    thread_name = "listener"
    event_prefix = "listen"

    def __init__(
        self,
        connect: Callable[[], Any],
        log: Any,
        *,
        health_interval: float = 2.0,
        answer_timeout: float = 3.0,
        ignore: dict[str, str] | None = None,
    ) -> None:
        super().__init__(log)
        self._connect = connect
        self.health_interval = health_interval
        self.answer_timeout = answer_timeout
        self.ignore = dict(ignore or {})

    # -- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        while not self._stopping.is_set():
            conn = None
            try:
                conn = self._connect()
                self._listen(conn)
                backoff = BACKOFF_FIRST_SECONDS
                self._serve(conn)
            except Exception as exc:
                self._down(exc, retry_in=backoff)
                self._pause(backoff)
                backoff = min(2 * backoff, BACKOFF_MAX_SECONDS)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
        self._stopped()

    def _listen(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.autocommit = True
        # Operators (and tests) tell this connection apart in pg_stat_activity.
        conn.execute("SET application_name = 'radius-server listen'")
        channels = sorted(self._wakeups)
        for channel in channels:
            # Channel names are our constants, quoted as identifiers anyway.
            conn.execute(f'LISTEN "{channel}"')
        self._up(channels=channels)

    def _serve(self, conn: Any) -> None:
        """Wait for notifications until stopped; raises when the connection is lost."""
        fd = conn.fileno()
        self._drain(conn)  # any received while LISTEN ran
        while not self._stopping.is_set():
            ready, _, _ = select.select([fd, self._stop_r], [], [], self.health_interval)
            if self._stop_r in ready:
                return
            if not ready:
                # Quiet for a while: make sure the database still answers. A lost or
                # frozen one raises here, so the loops fall back to polling and notice
                # the outage themselves (directory_degraded) within seconds.
                self._ping(conn)
            # Also after a statement: notifications it received wait in psycopg's backlog.
            self._drain(conn)

    def _ping(self, conn: Any) -> None:
        """``SELECT 1``, answered within ``answer_timeout`` or TimeoutError.

        At the libpq level with our own deadline: a frozen server (SIGSTOP, a paused
        VM) keeps the socket open and statement_timeout never fires.
        """
        pgconn = conn.pgconn
        pgconn.send_query(b"SELECT 1")
        while pgconn.flush():  # 1: more to send
            select.select([], [pgconn.socket], [], self.answer_timeout)
        deadline = time.monotonic() + self.answer_timeout
        while True:
            pgconn.consume_input()  # notifications read here go to psycopg's backlog
            if not pgconn.is_busy():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer from the database within {self.answer_timeout:g} s")
            select.select([pgconn.socket], [], [], remaining)
        while (result := pgconn.get_result()) is not None:
            if result.error_message:
                raise ConnectionError(result.error_message.decode("utf-8", "replace"))

    def _drain(self, conn: Any) -> None:
        """Hand over the notifications received (without waiting for more)."""
        channels: set[str] = set()
        for note in conn.notifies(timeout=0):
            if self.ignore.get(note.channel) != note.payload:
                channels.add(note.channel)
        if channels:
            self._hand_over(channels)
