"""Keeps the in-memory Directory in step with the database, off the hot path.

A full load at start, then a poll of the change feed every ``interval``
seconds in a worker thread. If the database goes away the directory keeps its
last good view (``degraded``) and a full reload follows recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from radius_server.directory import Client, Directory, Member
from radius_server.feed_cursor import FeedCursor
from radius_server.store.feed import ChangeBatch, ChangeFeed, Snapshot

PRUNE_EVERY_SECONDS = 3600.0
KEEP_FEED = timedelta(days=2)


class DirectorySync:
    """Follows the change feed into a Directory."""

    def __init__(
        self, feed: ChangeFeed, directory: Directory, log: Any, interval: float = 0.25
    ) -> None:
        self.feed = feed
        self.directory = directory
        self.log = log
        self.interval = interval
        self.cursor = FeedCursor()
        self._last_prune = time.monotonic()
        self._stopping = asyncio.Event()

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole view."""
        self.directory.members.replace_all(Member.from_record(c) for c in snapshot.customers)
        self.directory.clients.replace_all(Client.from_record(c) for c in snapshot.clients)
        self.cursor.reset(snapshot.last_seq)
        self.directory.ready = True
        self.log.info(
            "directory_loaded",
            customers=len(snapshot.customers),
            clients=len(snapshot.clients),
            feed_position=snapshot.last_seq,
        )

    def apply_batch(self, batch: ChangeBatch, now: float) -> None:
        """Apply changed and removed entities, then move the cursor."""
        members = self.directory.members
        for member_id, record in batch.customers.items():
            if record is None:
                members.discard(member_id)
            else:
                members.put(Member.from_record(record))
        for client_id, record in batch.clients.items():
            if record is None:
                self.directory.clients.discard(client_id)
                self.log.info("client_removed", client_id=client_id)
            else:
                self.directory.clients.put(Client.from_record(record))
                self.log.info("client_updated", client=record.name, address=record.address)
        if batch.customers:
            self.log.info(
                "customers_updated",
                count=len(batch.customers),
                removed=sum(1 for r in batch.customers.values() if r is None),
            )
        self.cursor.check_pruned(batch.oldest_seq)
        self.cursor.advance(batch.seqs, now)

    async def poll_once(self) -> None:
        """One round: full load if needed, else changes since the cursor."""
        try:
            if not self.directory.ready or self.cursor.needs_full_reload:
                started = time.perf_counter()
                snapshot = await asyncio.to_thread(self.feed.snapshot)
                self.apply_snapshot(snapshot)
                self.log.debug(
                    "directory_load_time", ms=round(1000 * (time.perf_counter() - started))
                )
            else:
                batch = await asyncio.to_thread(
                    self.feed.changes_after, self.cursor.highest, set(self.cursor.holes)
                )
                self.apply_batch(batch, time.monotonic())
            await self._maybe_prune()
        except Exception as exc:  # any storage failure: keep serving the last view
            if not self.directory.degraded:
                self.directory.degraded = True
                self.log.warning(
                    "directory_degraded",
                    error=type(exc).__name__,
                    serving_last_view=self.directory.ready,
                    customers=len(self.directory.members),
                )
            return
        if self.directory.degraded:
            self.directory.degraded = False
            # Whatever happened while away, start again from a full picture.
            self.cursor.needs_full_reload = True
            self.log.info("directory_recovered")

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        removed = await asyncio.to_thread(self.feed.prune, datetime.now(UTC) - KEEP_FEED)
        if removed:
            self.log.info("change_feed_pruned", removed=removed)

    async def run(self) -> None:
        """Poll until stop() is called."""
        while not self._stopping.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)

    def stop(self) -> None:
        """Ask run() to return."""
        self._stopping.set()
