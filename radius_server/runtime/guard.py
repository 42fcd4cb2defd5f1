"""Guessing protection around the engine: the pure Throttle plus sharing through the database.

The engine calls ``gate``/``failed``/``succeeded`` on the hot path; those touch
memory only and queue events. ``run`` (a background task) writes the queue in
batches and applies other instances' events, in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from radius_server.config import Settings
from radius_server.rules.feed_cursor import FeedCursor
from radius_server.rules.throttle import (
    DAY,
    HOUR,
    Block,
    EventKind,
    Outbox,
    Scope,
    Throttle,
    ThrottleEvent,
    ThrottleSettings,
    Transition,
    fingerprint,
    key_id,
    safe_text,
)
from radius_server.runtime.bounded import BoundedCalls
from radius_server.runtime.listener import Wakeup, follow
from radius_server.store.throttle_log import AppendInterrupted, ThrottleLog

# Read per failed attempt: a module constant costs less than the enum class's attribute.
_FAILURE = EventKind.FAILURE
# A known device's success is re-announced to other instances at most this often.
SUCCESS_REFRESH_SECONDS = DAY


def throttle_settings(settings: Settings) -> ThrottleSettings:
    """ThrottleSettings from the program's settings."""
    return ThrottleSettings(
        user_budget=settings.throttle_user_budget,
        user_window=settings.throttle_user_window_hours * HOUR,
        device_budget=settings.throttle_device_budget,
        device_window=settings.throttle_device_window_hours * HOUR,
        station_budget=settings.throttle_station_budget,
        station_window=settings.throttle_station_window_hours * HOUR,
        location_budget=settings.throttle_location_budget,
        location_window=settings.throttle_location_window_hours * HOUR,
        global_budget=settings.throttle_global_budget,
        global_window=settings.throttle_global_window_hours * HOUR,
        known_device_days=settings.throttle_known_device_days,
        max_known_devices=settings.throttle_max_known_devices,
        enabled=settings.throttle_enabled,
    )


def instance_name() -> str:
    """Identifies this server process among instances sharing the database."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def replay_shared(
    throttle: Throttle,
    store: ThrottleLog,
    now: float,
    on_event: Callable[[ThrottleEvent], None] | None = None,
) -> int:
    """Load the shared history still relevant at ``now`` into ``throttle``; return the position.

    The one replay: a starting server (Guard.load) and the admin layer (lockouts,
    devices) see the same state. Blocking: call in a thread from asyncio.
    """
    s = throttle.settings
    longest = max(
        s.user_window, s.device_window, s.station_window, s.location_window, s.global_window
    )
    position = store.position()
    history = store.history(now - longest, now - s.known_device_days * DAY)
    if on_event is not None:
        for event in history:
            on_event(event)
    throttle.load(history)
    # Locks already over by now are not news.
    throttle.expire(now)
    return position


def _iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds else None


def log_transitions(log: Any, transitions: list[Transition], source: str) -> None:
    """One event per lock change: lockout_started/released, defensive_mode_*."""
    for change in transitions:
        if change.scope in (Scope.GLOBAL, Scope.LOCATION):
            name = "defensive_mode_started" if change.started else "defensive_mode_ended"
        else:
            name = "lockout_started" if change.started else "lockout_released"
        fields: dict[str, Any] = {"scope": change.scope.value, "key": change.key, "source": source}
        if change.started:
            fields.update(
                until=_iso(change.until),
                failures=change.failures,
                reason="locked_out" if change.scope in (Scope.USER, Scope.DEVICE) else "throttled",
            )
        (log.warning if change.started else log.info)(name, **fields)


class Guard:
    """The engine's view of guessing protection."""

    def __init__(
        self,
        settings: ThrottleSettings,
        log: Any,
        store: ThrottleLog | None = None,
        key: bytes | None = None,
    ) -> None:
        """``key`` makes PIN fingerprints (see runtime/throttle_key.py); instances sharing a
        budget must share it. None: a random key, enough for one process alone."""
        self.throttle = Throttle(settings)
        self.key = key if key is not None else secrets.token_bytes(32)
        self.key_id = key_id(self.key)
        self._foreign_keys: set[str] = set()
        self.settings = settings
        self.log = log
        self.store = store
        self.outbox = Outbox()
        self.cursor = FeedCursor()
        self.degraded = False
        # One worker thread, each round bounded (the server sets the deadline from
        # database_timeout): a frozen database is reported (throttle_sync_degraded)
        # within it, and never piles up threads.
        self.calls = BoundedCalls("guard", deadline=6.0)
        self._stopping = asyncio.Event()
        # Set by the server on PostgreSQL: share when notified (runtime/listener.py).
        self.wake: Wakeup | None = None

    # -- hot path (memory only) -------------------------------------------------

    def gate(
        self, user: str, device: str | None, now: float, location: str | None = None
    ) -> Block | None:
        """The lock that applies, if any."""
        return self.throttle.gate(user, device, now, location)

    def fingerprint(self, user: str, pin: bytes) -> bytes:
        """The keyed fingerprint of a wrong PIN (see throttle.fingerprint)."""
        return fingerprint(self.key, user, pin)

    def failed(
        self,
        user: str,
        device: str | None,
        mark: bytes | None,
        now: float,
        location: str | None = None,
    ) -> None:
        """Count a wrong PIN (or a failed attempt, when ``mark`` is None)."""
        event = ThrottleEvent(
            _FAILURE,
            now,
            user,
            device,
            self.throttle.is_known(user, device, now),
            mark,
            location,
            self.key_id if mark is not None else None,
        )
        self._local(event)

    def succeeded(self, user: str, device: str | None, now: float) -> None:
        """Remember the device as known (and tell other instances now and then)."""
        if device is None:
            return
        known = self.throttle.known.get(user)
        seen = None if known is None else known.get(device)
        if seen is None or now - seen > SUCCESS_REFRESH_SECONDS:
            self._local(ThrottleEvent(EventKind.SUCCESS, now, user, device, True))

    def _local(self, event: ThrottleEvent) -> None:
        if not self.settings.enabled:
            return  # switched off: no counting, no sharing
        log_transitions(self.log, self.throttle.apply(event), "local")
        if self.store is not None:
            self.outbox.push(event)
            if self.wake is not None:
                self.wake.soon()  # written within the poll interval, as when polling

    # -- background -------------------------------------------------------------

    def load(self) -> None:
        """Replay shared history at start-up (blocking; call in a thread)."""
        if self.store is None:
            return
        self.cursor.reset(replay_shared(self.throttle, self.store, time.time(), self._check_key))

    def _exchange(self) -> tuple[list[int], list[tuple[int, ThrottleEvent]]]:
        """Write our events, read everyone else's (blocking; runs in a thread)."""
        assert self.store is not None
        batch = self.outbox.take()
        try:
            ours = self.store.append(batch, on_reject=self._rejected)
        except AppendInterrupted as exc:
            # Written ones stay written; keep the rest for the next round.
            self.outbox.pending[:0] = exc.remaining
            raise
        except Exception:
            # Keep them for the next round rather than lose a failure count.
            self.outbox.pending[:0] = batch
            raise
        rows = self.store.after(self.cursor.floor)
        return ours, [(seq, event) for seq, event in rows if self.cursor.is_new(seq)]

    async def exchange_once(self) -> None:
        """One round of sharing; failures only mark the guard degraded."""
        if self.store is None or not self.settings.enabled:
            return
        try:
            ours, fresh = await self.calls.run(self._exchange)
        except Exception as exc:
            if not self.degraded:
                self.degraded = True
                self.log.warning(
                    "throttle_sync_degraded",
                    error=type(exc).__name__,
                    queued=len(self.outbox.pending),
                )
            return
        if self.degraded:
            self.degraded = False
            self.log.info("throttle_sync_recovered")
        for _seq, event in fresh:
            self._check_key(event)
            log_transitions(self.log, self.throttle.apply(event), "peer")
            if event.kind is EventKind.CLEAR:
                self.log.info("lockout_cleared", user=event.user, source="admin")
        # Our own rows count as read: they were applied when they happened.
        self.cursor.advance(ours + [seq for seq, _ in fresh], time.monotonic())
        # A huge jump (table reset) is skipped rather than tracked hole by hole.
        self.cursor.needs_full_reload = False
        log_transitions(self.log, self.throttle.expire(time.time()), "expiry")

    def _rejected(self, event: ThrottleEvent, reason: str) -> None:
        """The database refused one event: it is dropped so the others still get through."""
        self.log.error(
            "throttle_event_rejected",
            kind=event.kind.value,
            user=safe_text(event.user, 64),
            reason=reason,
        )

    def _check_key(self, event: ThrottleEvent) -> None:
        """Fingerprints under another key never match ours: say so once per key."""
        if event.key_id is None or event.key_id == self.key_id:
            return
        if event.key_id not in self._foreign_keys:
            self._foreign_keys.add(event.key_id)
            # Still counted (as distinct PINs, the safe side); the fix is one shared key.
            self.log.warning(
                "throttle_key_mismatch",
                ours=self.key_id,
                theirs=event.key_id,
                fix="give every instance the same throttle_key",
            )

    async def run(self, interval: float) -> None:
        """Share events every ``interval`` seconds until stop()."""
        await follow(self.exchange_once, self._stopping, interval, self.wake)
        await self.exchange_once()  # flush what is queued before exiting

    def stop(self) -> None:
        """Ask run() to finish (after a last flush)."""
        self._stopping.set()
