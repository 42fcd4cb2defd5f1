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
import gc
import ipaddress
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from radius_server.rules.directory import Client, Directory, Member, SeenIds
from radius_server.rules.feed_cursor import FeedCursor
from radius_server.rules.plans import Location, Plan, PlanDefinition, compile_lenient
from radius_server.runtime.bounded import BoundedCalls, describe_error
from radius_server.runtime.listener import Wakeup, follow
from radius_server.runtime.snapshot_file import SnapshotFile
from radius_server.store.feed import MEMBER_PAGE, ChangeBatch, ChangeFeed
from radius_server.store.records import (
    ClientRecord,
    CustomerRecord,
    LocationRecord,
    PlanRecord,
    as_utc,
)

PRUNE_EVERY_SECONDS = 3600.0
KEEP_FEED = timedelta(days=2)
# Applied changes reach the snapshot file at most this often (a full write each time),
# and at most every SAVE_SECONDS_PER_MEMBER x members: a million members take
# seconds of CPU to write, so they are written every 100 s, not every 10.
SAVE_EVERY_SECONDS = 10.0
SAVE_SECONDS_PER_MEMBER = 1e-4
# While a full load converts rows (or a snapshot is written) in a worker thread, the
# loop waits at most this long for the GIL (Python's default is 5 ms, the whole
# latency budget), and a request waits so after each of its system calls: 0.1 ms
# halved the median of a 100,000-member reload against 0.5 ms (bench/README.md).
LOAD_SWITCH_INTERVAL = 0.0001
# The old view is freed shard by shard, letting the loop in between.
DISPOSE_PAUSE = 0.0002
# A full load reads every row: it may take this many round deadlines.
FULL_LOAD_DEADLINES = 3


class _FineSwitching:
    """Python's thread switch interval lowered while background work converts or encodes.

    A worker thread busy in Python keeps the GIL up to the switch interval (5 ms by
    default) each time the loop asks for it; while a full load or a snapshot write
    runs, the loop waits at most LOAD_SWITCH_INTERVAL instead. Counted, so
    overlapping users restore the interval only when the last one leaves.
    """

    def __init__(self) -> None:
        self._users = 0
        self._saved = 0.0

    def __enter__(self) -> None:
        if self._users == 0:
            self._saved = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved, LOAD_SWITCH_INTERVAL))
        self._users += 1

    def __exit__(self, *_exc: object) -> None:
        self._users -= 1
        if self._users == 0:
            sys.setswitchinterval(self._saved)


_fine_switching = _FineSwitching()


def _pause() -> None:
    time.sleep(DISPOSE_PAUSE)


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class MemberDecoder:
    """Store rows to Members, sharing equal PINs and timestamps between members.

    At a million members there are only 100,000 possible PINs and, after a bulk
    import, few distinct timestamps: sharing one object per value saves about
    100 bytes a member. Five-digit PINs are found by number in a flat table (no
    cached string per PIN left to fragment the heap); the timestamp cache is
    small and bounded. Both are dropped after each full load.
    """

    __slots__ = ("_other_pins", "_pins", "_times")

    TIME_CACHE = 4096

    def __init__(self) -> None:
        self._pins: list[bytes | None] = []
        self._other_pins: dict[str, bytes] = {}
        self._times: dict[datetime, float] = {}

    def pin(self, text: str, like: bytes | None = None) -> bytes:
        """The PIN as bytes, one object per distinct PIN.

        ``like``: the PIN the view holds for this member; when equal, that object
        becomes the shared one, so a reload does not make a second copy of every
        PIN (100,000 of them, about 5 MiB) only to drop them at the end.
        """
        if len(text) == 5 and text.isdigit():
            if not self._pins:
                self._pins = [None] * 100_000
            index = int(text)
            found = self._pins[index]
            if found is None:
                found = text.encode("ascii")
                if like is not None and like == found:
                    found = like
                self._pins[index] = found
            return found
        # Not a five-digit PIN (none should be): shared too, in a bounded cache.
        other = self._other_pins.get(text)
        if other is None:
            if len(self._other_pins) >= self.TIME_CACHE:
                self._other_pins.clear()
            other = self._other_pins[text] = text.encode("ascii")
        return other

    def time(self, value: datetime | None) -> float | None:
        """POSIX seconds (naive means UTC, as SQLite returns them), shared when repeated."""
        if value is None:
            return None
        found = self._times.get(value)
        if found is None:
            if len(self._times) >= self.TIME_CACHE:
                self._times.clear()
            found = self._times[value] = as_utc(value).timestamp()  # type: ignore[union-attr]
        return found

    def forget(self) -> None:
        """Drop the caches (after a full load: the members keep what they share)."""
        self._pins = []
        self._other_pins = {}
        self._times = {}

    def member(self, row: Any, like: Member | None = None) -> Member:
        """A ``store.feed.MEMBER_COLUMNS`` row as a Member (``like``: the view's, to share PINs)."""
        (
            id_,
            email,
            pin,
            active,
            wifi_access,
            valid_from,
            valid_until,
            pin_changed_at,
            previous_pin,
            device_limit,
            plan_id,
        ) = row
        return Member(
            id_,
            email,
            self.pin(pin, like.pin if like is not None else None),
            active,
            wifi_access,
            self.time(valid_from),
            self.time(valid_until),
            self.time(pin_changed_at),
            self.pin(previous_pin, like.previous_pin if like is not None else None)
            if previous_pin
            else None,
            device_limit,
            plan_id,
        )

    def same(self, row: Any, member: Member) -> bool:
        """Whether ``row`` says exactly what ``member`` holds (``member(row) == member``).

        Field by field, without building the Member: most rows of a reload are
        unchanged, and a frozen dataclass's construction and comparison were a
        third of applying one.
        """
        (
            _id,
            email,
            pin,
            active,
            wifi_access,
            valid_from,
            valid_until,
            pin_changed_at,
            previous_pin,
            device_limit,
            plan_id,
        ) = row
        return (
            email == member.email
            and active == member.active
            and wifi_access == member.wifi_access
            and device_limit == member.device_limit
            and plan_id == member.plan_id
            and self.pin(pin, member.pin) == member.pin
            and (self.pin(previous_pin, member.previous_pin) if previous_pin else None)
            == member.previous_pin
            and self.time(pin_changed_at) == member.pin_changed_at
            and self.time(valid_from) == member.valid_from
            and self.time(valid_until) == member.valid_until
        )

    def from_record(self, record: CustomerRecord) -> Member:
        """A store record (a change) as a Member."""
        return self.member(
            (
                record.id,
                record.email,
                record.pin,
                record.active,
                record.wifi_access,
                record.valid_from,
                record.valid_until,
                record.pin_changed_at,
                record.previous_pin,
                record.device_limit,
                record.plan_id,
            )
        )


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
        manage_gc: bool = False,
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
        # Set by the server on PostgreSQL: read when notified (runtime/listener.py).
        self.wake: Wakeup | None = None
        self._decoder = MemberDecoder()
        self._saving: asyncio.Task[None] | None = None  # the snapshot write under way
        # The server process (not tests sharing one interpreter): full loads run with
        # the cyclic GC paused and freeze the loaded view out of its reach after.
        self.manage_gc = manage_gc

    async def full_load(self) -> None:
        """Read everything off the loop and bring the view in line with it, member by member.

        The feed position, clients and plans first, then the customers page by
        page, each page one call under the usual deadline, converted in the
        worker thread and put into the view only where a member changed; the
        members no page returned are removed at the end. The loop keeps answering
        all along, each member in its old state or its new one, and the reload
        needs memory for what changed only, not for a second view.
        See docs/architecture.md, "A million members".
        """
        started = time.perf_counter()
        head = await self.calls.run(self.feed.head)
        await self.wait_saved()  # a snapshot write walks the shards this load changes
        seen = SeenIds()
        collecting = gc.isenabled()
        if self.manage_gc:
            # A full collection walks every tracked object: with a million members,
            # most of a second on whichever thread triggers it (often the loop's).
            # Paused until the view is frozen below.
            gc.disable()
        _fine_switching.__enter__()
        try:
            after = -1
            while True:
                count, after = await self.calls.run(self._load_page, seen, after)
                if count < MEMBER_PAGE:
                    break
            # Members no page returned are gone from the database.
            await self.calls.run(self.directory.members.sweep, seen.__contains__, _pause)
            self.directory.clients.replace_all(client_from_record(c) for c in head.clients)
            self._apply_plans(head.plans, head.locations)
            self.cursor.reset(head.last_seq, head.recent_seqs, time.monotonic())
            self.directory.ready = True
            self._save_now = True
            if self.manage_gc:
                # The view lives on: out of the collector's sight from now on
                # (reference counting still frees a member replaced later).
                gc.freeze()
        finally:
            _fine_switching.__exit__()
            if collecting and self.manage_gc:
                gc.enable()
            self._decoder.forget()
        self.log.info(
            "directory_loaded",
            source="database",
            customers=len(self.directory.members),
            clients=len(head.clients),
            plans=len(head.plans),
            locations=len(head.locations),
            feed_position=head.last_seq,
            ms=round(1000 * (time.perf_counter() - started)),
        )

    def _load_page(self, seen: SeenIds, after: int) -> tuple[int, int]:
        """In the worker thread: one page of customers into the view; (rows, last id).

        A member equal to the one in the view keeps that object (``Members.refresh``).
        Changing the view from this thread is safe: only the sync changes it, and
        it is waiting for this call; each dict operation is atomic for the loop.
        """
        rows = self.feed.member_page(after, MEMBER_PAGE)
        members, decoder = self.directory.members, self._decoder
        by_id, put, member, same, mark = (
            members.by_id,
            members.put,
            decoder.member,
            decoder.same,
            seen.add,
        )
        for row in rows:
            mark(row[0])
            current = by_id(row[0])
            if current is None or not same(row, current):
                put(member(row, current))  # else the unchanged member keeps its object
        return len(rows), (rows[-1][0] if rows else after)

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
        if self.manage_gc:
            gc.freeze()  # as after a full load
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
                members.put(self._decoder.from_record(record))
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
                await self.full_load()
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
        """Start writing the view to the snapshot file after a full load, or now and then.

        The write runs in the background (at a million members it takes seconds):
        the loop goes on serving and applying changes, one write at a time.
        """
        if self.snapshot is None or not (self._unsaved or self._save_now):
            return
        if self._saving is not None and not self._saving.done():
            return
        if self.cursor.needs_full_reload or self.directory.degraded:
            return  # only a view the database just confirmed is worth keeping
        now = time.monotonic()
        every = max(SAVE_EVERY_SECONDS, SAVE_SECONDS_PER_MEMBER * len(self.directory.members))
        if not self._save_now and now - self._last_save < every:
            return
        self._unsaved = self._save_now = False
        self._last_save = now
        # The thread walks the shards as they are, each copied in one short step
        # (so changes applied meanwhile are safe), never a million members on the
        # loop at once. A full load waits for this write before emptying the
        # shards it walks (wait_saved).
        shards = self.directory.members.shards()
        members = (m for shard in shards for m in list(shard.values()))
        clients = self.directory.clients.all()
        plans = [plan.definition for plan in self.directory.plans.all()]
        locations = list(self.directory.locations.values())
        self._saving = asyncio.create_task(self._save(members, clients, plans, locations))

    async def _save(
        self,
        members: Iterable[Member],
        clients: list[Client],
        plans: list[PlanDefinition],
        locations: list[Location],
    ) -> None:
        assert self.snapshot is not None
        try:
            with _fine_switching:
                size = await asyncio.to_thread(
                    self.snapshot.save, members, clients, plans, locations
                )
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

    async def wait_saved(self) -> None:
        """Return once no snapshot write is under way."""
        if self._saving is not None:
            await asyncio.shield(self._saving)

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        removed = await self.calls.run(self.feed.prune, datetime.now(UTC) - KEEP_FEED)
        if removed:
            self.log.info("change_feed_pruned", removed=removed)

    async def run(self) -> None:
        """Poll (or wait for notifications) until stop() is called."""
        await follow(self.poll_once, self._stopping, self.interval, self.wake)
        await self.wait_saved()

    def stop(self) -> None:
        """Ask run() to return."""
        self._stopping.set()
