"""Keeps the online-devices view (rules/online.py) in step with every instance's sessions.

The device limit is shared between server instances through the database: a
phone whose accounting reaches instance A must count when the same member signs
in through instance B. So, off the hot path:

- at start, a full load of the open sessions (``SessionStore.find(online=True)``);
- then every ``interval`` the rows changed since the latest change seen, and
  at least those of the last ``RECENT_SECONDS`` by our clock
  (``SessionStore.changed_since``). A row's ``changed_at`` is taken by its
  writer before the commit, so a row can become visible after rows with later
  times (a slow transaction, a writer whose clock is behind). Every
  ``OVERLAP_EVERY_SECONDS`` the poll therefore reaches back ``overlap`` seconds
  further; states already known are ignored by the view, so reading a row twice
  changes nothing;
- now and then :meth:`OnlineDevices.expire`, so a session nobody closed (the
  database is away, the stale-session loop has not run yet) stops counting
  once it is stale.

This server's own accounting reaches the view sooner, through the accounting
writer's hook ``OnlineDevices.apply``. If the database is away the view keeps
what it has and follows its own accounting; it catches up when the database
answers again.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from radius_server.rules.online import OnlineDevices
from radius_server.runtime.bounded import BoundedCalls, describe_error
from radius_server.runtime.listener import Wakeup, follow
from radius_server.store.records import SessionRecord

# How often a poll reaches back by the overlap window (between, it starts at the
# latest change seen: the common case costs one indexed read of new rows). Every
# row read again costs CPU under accounting load (each poll re-read two seconds
# and each reach back 30 s every 5 s: every row about 14 times, 80 us per
# accounting request), and a device counted a few seconds late is covered by the
# minute an accept is held pending.
OVERLAP_EVERY_SECONDS = 15.0
# Every poll reads at least this far back by our own clock: a commit that took
# a moment, or a writer whose clock runs ahead of ours, costs no wait for the
# next reach back.
RECENT_SECONDS = 0.5
# How often sessions gone silent are dropped from the view.
EXPIRE_EVERY_SECONDS = 10.0
# Rows read per poll at most; the next poll goes on from the last one read.
BATCH = 10000
# Open sessions read by the full load at most (far more than any space has).
FULL_LOAD_LIMIT = 1_000_000


class SessionSource(Protocol):
    """What the follower needs of store/sessions.SessionStore."""

    def find(
        self,
        *,
        online: bool = False,
        member_email: str | None = None,
        client_name: str | None = None,
        limit: int = 1000,
    ) -> list[SessionRecord]:
        """Sessions, newest first, filtered."""
        ...

    def changed_since(self, since: datetime, limit: int = 10000) -> list[SessionRecord]:
        """Sessions whose row changed at or after ``since``, oldest change first."""
        ...


def observe_rows(view: OnlineDevices, rows: Iterable[SessionRecord]) -> None:
    """Tell the view what session rows say: open since their last update, or closed."""
    for row in rows:
        at = row.updated_at.timestamp()
        if row.stopped_at is not None:
            # Closed as stale at its last update, or stopped later: whichever is later.
            at = max(at, row.stopped_at.timestamp())
        view.observe(
            row.unique_key,
            row.customer_id,
            row.calling_station_id,
            row.stopped_at is None,
            at,
            (row.client_name, row.nas_ip_address, row.nas_identifier),
        )


class SessionFollower:
    """Follows the ``sessions`` table into an OnlineDevices view."""

    def __init__(
        self,
        store: SessionSource,
        view: OnlineDevices,
        log: Any,
        interval: float = 0.25,
        *,
        deadline: float = 6.0,
        overlap: float = 30.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.view = view
        self.log = log
        self.interval = interval
        self.overlap = timedelta(seconds=overlap)
        self.clock = clock
        self.monotonic = monotonic
        self.calls = BoundedCalls("online-devices", deadline)
        self.loaded = False
        # The latest changed_at seen (writer clocks); polls start from it.
        self.highest: datetime | None = None
        self.degraded = False
        self._last_overlap = float("-inf")
        self._last_expire = float("-inf")
        # Grows when a batch gets no further than the last (a stale-close of many
        # rows gives them one changed_at), so the poll after it gets past them.
        self._batch = BATCH
        self._stopping = asyncio.Event()
        # Set by the server on PostgreSQL: read when notified (runtime/listener.py).
        self.wake: Wakeup | None = None

    async def poll_once(self) -> None:
        """One round: the full load until it has succeeded, then the changes since the last."""
        try:
            if not self.loaded:
                await self._load()
            else:
                await self._follow()
        except Exception as exc:  # any storage failure: keep the view, try again next round
            if not self.degraded:
                self.degraded = True
                self.log.warning(
                    "online_devices_degraded",
                    error=type(exc).__name__,
                    detail=describe_error(exc),
                    loaded=self.loaded,
                )
        else:
            if self.degraded:
                self.degraded = False
                self.log.info("online_devices_recovered")
        self._maybe_expire()

    async def _load(self) -> None:
        # Changes from here on are read by the polls: anything committed during the
        # load is seen twice at worst.
        mark = datetime.fromtimestamp(self.clock(), UTC) - self.overlap
        rows = await self.calls.run(
            functools.partial(self.store.find, online=True, limit=FULL_LOAD_LIMIT)
        )
        observe_rows(self.view, rows)
        self.highest = mark
        self.loaded = True
        self._last_overlap = self.monotonic()
        self.log.info(
            "online_devices_loaded",
            sessions=len(rows),
            members=sum(1 for _ in self.view.members()),
        )

    async def _follow(self) -> None:
        assert self.highest is not None
        now = self.monotonic()
        # Never from later than RECENT_SECONDS ago by our clock: a writer whose clock
        # runs ahead must not make us skip what the others commit meanwhile.
        recent = datetime.fromtimestamp(self.clock() - RECENT_SECONDS, UTC)
        start = min(self.highest, recent)
        reach_back = now - self._last_overlap >= OVERLAP_EVERY_SECONDS
        since = start - self.overlap if reach_back else start
        rows = await self.calls.run(self.store.changed_since, since, self._batch)
        if reach_back:
            self._last_overlap = now
        if not rows:
            return
        observe_rows(self.view, rows)
        last = rows[-1].changed_at
        full = len(rows) >= self._batch
        # A full batch that got no further than before: read more at once next time.
        self._batch = (
            min(self._batch * 4, FULL_LOAD_LIMIT) if full and last <= self.highest else BATCH
        )
        self.highest = max(self.highest, last)
        self.log.debug("online_devices_followed", rows=len(rows))

    def _maybe_expire(self) -> None:
        now = self.monotonic()
        if now - self._last_expire < EXPIRE_EVERY_SECONDS:
            return
        self._last_expire = now
        stale = self.view.expire(self.clock())
        if stale:
            self.log.info("online_devices_expired", sessions=stale)

    async def run(self) -> None:
        """Poll (or wait for notifications) until stop() is called."""
        await follow(self.poll_once, self._stopping, self.interval, self.wake)

    def stop(self) -> None:
        """Ask run() to return."""
        self._stopping.set()
