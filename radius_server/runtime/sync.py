"""Keeps the in-memory Directory in step with the database, off the hot path.

A full load at start, then a poll of the change feed every ``interval``
seconds in a worker thread, each round bounded by a deadline. If the database
goes away or stops answering the directory keeps its last good view
(``degraded``) and a full reload follows recovery. Each full load, and applied
changes now and then, are saved to a snapshot file that a server started during
an outage serves from.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.feed_cursor import FeedCursor
from radius_server.rules.plans import Location, Plan, PlanDefinition, compile_lenient
from radius_server.runtime.bounded import BoundedCalls, describe_error, repeat_until_stopped
from radius_server.runtime.snapshot_file import SnapshotFile
from radius_server.store.feed import ChangeBatch, ChangeFeed, Snapshot
from radius_server.store.records import ClientRecord, CustomerRecord, LocationRecord, PlanRecord

PRUNE_EVERY_SECONDS = 3600.0
KEEP_FEED = timedelta(days=2)
# Applied changes reach the snapshot file at most this often (a full write each time).
SAVE_EVERY_SECONDS = 10.0
# A full load reads every row: it may take this many round deadlines.
FULL_LOAD_DEADLINES = 3


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def member_from_record(record: CustomerRecord) -> Member:
    """The directory's view of a store record (the mapping stays out of the pure core)."""
    return Member(
        id=record.id,
        email=record.email,
        pin=record.pin.encode("ascii"),
        active=record.active,
        wifi_access=record.wifi_access,
        valid_from=_timestamp(record.valid_from),
        valid_until=_timestamp(record.valid_until),
        pin_changed_at=_timestamp(record.pin_changed_at),
        previous_pin=record.previous_pin.encode("ascii") if record.previous_pin else None,
        device_limit=record.device_limit,
        plan_id=record.plan_id,
    )


def client_from_record(record: ClientRecord) -> Client:
    """The directory's view of a client record."""
    return Client(
        id=record.id,
        name=record.name,
        network=ipaddress.ip_network(record.address),
        secret=record.secret.encode("utf-8"),
        require_message_authenticator=record.require_message_authenticator,
        coa_port=record.coa_port,
        coa_secret=record.coa_secret.encode("utf-8") if record.coa_secret is not None else None,
        vendor=record.vendor,
        location_id=record.location_id,
        coa=record.coa,
    )


def location_from_record(record: LocationRecord) -> Location:
    """The decision core's view of a location."""
    return Location(id=record.id, name=record.name, timezone=record.timezone)


def compile_plans(definitions: Iterable[PlanDefinition], log: Any) -> list[Plan]:
    """Compile every plan; what no longer compiles is logged and left out of the reply.

    The store refused it when it was saved, so this only happens when the
    dictionary changed under a saved plan: the plan still applies (its hours and
    locations above all), without the attributes that no longer encode.
    """
    plans = []
    for definition in definitions:
        plan, problems = compile_lenient(definition)
        for problem in problems:
            log.error("plan_unusable_part", plan=definition.name, detail=problem)
        plans.append(plan)
    return plans


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


class DirectorySync:
    """Follows the change feed into a Directory."""

    def __init__(
        self,
        feed: ChangeFeed,
        directory: Directory,
        log: Any,
        interval: float = 0.25,
        *,
        deadline: float = 6.0,
        snapshot: SnapshotFile | None = None,
    ) -> None:
        self.feed = feed
        self.directory = directory
        self.log = log
        self.interval = interval
        self.calls = BoundedCalls("directory-sync", deadline)
        self.snapshot = snapshot
        self.cursor = FeedCursor()
        self._last_prune = time.monotonic()
        self._unsaved = False  # changes applied since the last save
        self._save_now = False  # a full load not saved yet
        self._last_save = 0.0
        self._save_failing = False
        self.last_error: str | None = None  # the last failure, one line (start-up reports it)
        # When the view last took a change (a full load, or a batch that changed
        # something): wall-clock seconds, for /metrics; None before the first load.
        self.last_change_at: float | None = None
        self._stopping = asyncio.Event()

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole view."""
        self.directory.members.replace_all(member_from_record(c) for c in snapshot.customers)
        self.directory.clients.replace_all(client_from_record(c) for c in snapshot.clients)
        self._apply_plans(snapshot.plans, snapshot.locations)
        self.cursor.reset(snapshot.last_seq, snapshot.recent_seqs, time.monotonic())
        self.directory.ready = True
        self._save_now = True
        self.last_change_at = time.time()
        self.log.info(
            "directory_loaded",
            source="database",
            customers=len(snapshot.customers),
            clients=len(snapshot.clients),
            plans=len(snapshot.plans),
            locations=len(snapshot.locations),
            feed_position=snapshot.last_seq,
        )

    def _apply_plans(self, plans: list[PlanRecord], locations: list[LocationRecord]) -> None:
        self.directory.locations = {r.id: location_from_record(r) for r in locations}
        self.directory.plans.replace_all(
            compile_plans((record.definition() for record in plans), self.log)
        )

    def load_saved_view(self) -> bool:
        """Serve the snapshot file's view until the database answers; False if there is none."""
        if self.snapshot is None:
            return False
        try:
            saved = self.snapshot.load()
        except (OSError, ValueError) as exc:
            self.log.error(
                "directory_snapshot_unusable", path=str(self.snapshot.path), error=str(exc)
            )
            return False
        if saved is None:
            return False
        self.directory.members.replace_all(saved.members)
        self.directory.clients.replace_all(saved.clients)
        self.directory.locations = {location.id: location for location in saved.locations}
        self.directory.plans.replace_all(compile_plans(saved.plans, self.log))
        self.directory.ready = True
        self.directory.degraded = True
        self.cursor.needs_full_reload = True  # catch up in full once the database answers
        self.log.warning(
            "directory_loaded",
            source="snapshot",
            path=str(self.snapshot.path),
            saved_at=_iso(saved.saved_at),
            customers=len(saved.members),
            clients=len(saved.clients),
        )
        return True

    def apply_batch(self, batch: ChangeBatch, now: float) -> None:
        """Apply changed and removed entities, then move the cursor."""
        members = self.directory.members
        for member_id, record in batch.customers.items():
            if record is None:
                members.discard(member_id)
            else:
                members.put(member_from_record(record))
        for client_id, record in batch.clients.items():
            if record is None:
                self.directory.clients.discard(client_id)
                self.log.info("client_removed", client_id=client_id)
            else:
                self.directory.clients.put(client_from_record(record))
                self.log.info("client_updated", client=record.name, address=record.address)
        if batch.plans is not None and batch.locations is not None:
            self._apply_plans(batch.plans, batch.locations)
            self._unsaved = True
            self.log.info("plans_updated", plans=len(batch.plans), locations=len(batch.locations))
        if batch.customers:
            self.log.info(
                "customers_updated",
                count=len(batch.customers),
                removed=sum(1 for r in batch.customers.values() if r is None),
            )
        if batch.customers or batch.clients:
            self._unsaved = True
        if batch.customers or batch.clients or batch.plans is not None:
            self.last_change_at = time.time()
        self.cursor.check_pruned(batch.oldest_seq)
        self.cursor.advance(batch.seqs, now)

    async def poll_once(self) -> None:
        """One round: full load if needed, else changes since the cursor."""
        full = not self.directory.ready or self.cursor.needs_full_reload
        try:
            if full:
                started = time.perf_counter()
                snapshot = await self.calls.run(
                    self.feed.snapshot, deadline=self.calls.deadline * FULL_LOAD_DEADLINES
                )
                self.apply_snapshot(snapshot)
                self.log.debug(
                    "directory_load_time", ms=round(1000 * (time.perf_counter() - started))
                )
            else:
                batch = await self.calls.run(
                    self.feed.changes_after, self.cursor.highest, set(self.cursor.holes)
                )
                self.apply_batch(batch, time.monotonic())
            await self._maybe_prune()
        except Exception as exc:  # any storage failure: keep serving the last view
            self.last_error = describe_error(exc)
            if not self.directory.degraded:
                self.directory.degraded = True
                self.log.warning(
                    "directory_degraded",
                    error=type(exc).__name__,
                    serving_last_view=self.directory.ready,
                    customers=len(self.directory.members),
                )
            return
        finally:
            await self._maybe_save()
        if self.directory.degraded:
            self.directory.degraded = False
            if not full:
                # Whatever happened while away, start again from a full picture.
                self.cursor.needs_full_reload = True
            self.log.info("directory_recovered")

    async def _maybe_save(self) -> None:
        """Write the view to the snapshot file after a full load, or now and then after changes."""
        if self.snapshot is None or not (self._unsaved or self._save_now):
            return
        if self.cursor.needs_full_reload or self.directory.degraded:
            return  # only a view the database just confirmed is worth keeping
        now = time.monotonic()
        if not self._save_now and now - self._last_save < SAVE_EVERY_SECONDS:
            return
        self._unsaved = self._save_now = False
        self._last_save = now
        # Copied here, on the loop that owns the directory; encoded and written in a thread.
        members, clients = self.directory.members.all(), self.directory.clients.all()
        plans = [plan.definition for plan in self.directory.plans.all()]
        locations = list(self.directory.locations.values())
        try:
            size = await asyncio.to_thread(self.snapshot.save, members, clients, plans, locations)
        except Exception as exc:  # disk full, read-only...: serving goes on regardless
            self._unsaved = True
            if not self._save_failing:
                self._save_failing = True
                self.log.error(
                    "directory_snapshot_failed",
                    path=str(self.snapshot.path),
                    error=type(exc).__name__,
                    detail=getattr(exc, "strerror", None),
                )
            return
        if self._save_failing:
            self._save_failing = False
        self.log.debug("directory_snapshot_saved", path=str(self.snapshot.path), bytes=size)

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        removed = await self.calls.run(self.feed.prune, datetime.now(UTC) - KEEP_FEED)
        if removed:
            self.log.info("change_feed_pruned", removed=removed)

    async def run(self) -> None:
        """Poll until stop() is called."""
        await repeat_until_stopped(self.poll_once, self._stopping, self.interval)

    def stop(self) -> None:
        """Ask run() to return."""
        self._stopping.set()
