"""Guessing protection: pure failure accounting and lock decisions (clock passed in).

What is counted is what an attacker must spend. With PAP the server sees the
PIN tried, so only *distinct* wrong PINs count (a phone repeating one typo
costs one); with CHAP and MS-CHAP it cannot tell, so every failure counts.

Budgets, each a rolling window:

- per user, failures from devices that never signed in successfully
  ("unknown" devices): exhausted -> ``locked_out`` for unknown devices only;
- per (user, known device): exhausted -> ``locked_out`` for that device only,
  so an attacker cannot lock a member's own phone without knowing its MAC;
- per calling station, unknown-device failures across users -> ``throttled``;
- global, unknown-device failures across everything -> ``throttled``
  (defensive mode: spraying with rotated MAC addresses ends here).

While a budget is exhausted the request is rejected *without* checking the
PIN, so a right guess during a lock confirms nothing. Known devices are judged
only by their own budget: a lock-out of a member's email (by anyone failing on
purpose) never stops the devices that member has signed in with.

Nothing here touches the PIN itself; only this server's answers.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    """Budgets and windows; the README's security model derives its numbers from these."""

    user_budget: int = 10
    user_window: float = DAY
    device_budget: int = 5
    device_window: float = DAY
    station_budget: int = 20
    station_window: float = HOUR
    global_budget: int = 100
    global_window: float = HOUR
    known_device_days: float = 90.0
    max_known_devices: int = 3
    stale_pin_days: float = 30.0
    enabled: bool = True


class Scope(StrEnum):
    """Which budget a lock belongs to."""

    USER = "user"
    DEVICE = "device"
    STATION = "station"
    GLOBAL = "global"


class EventKind(StrEnum):
    """What is shared between instances."""

    FAILURE = "failure"
    SUCCESS = "success"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class ThrottleEvent:
    """One fact about an attempt; applied locally and shared through the database."""

    kind: EventKind
    at: float  # wall-clock seconds: instances on several machines share these
    user: str
    device: str | None = None
    known: bool = False
    # Identifies the PIN tried (keyed hash) for PAP; None means "count every failure".
    fingerprint: bytes | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """A budget is exhausted: reject without checking the PIN."""

    locked_out: bool  # True: locked_out reason; False: throttled
    scope: Scope
    key: str
    until: float


@dataclass(frozen=True, slots=True)
class Transition:
    """A lock starting or ending, for the log."""

    started: bool
    scope: Scope
    key: str
    until: float | None = None
    failures: int = 0


class Window:
    """Distinct failure marks with the time each was first seen, in a rolling window."""

    __slots__ = ("marks",)

    def __init__(self) -> None:
        self.marks: OrderedDict[bytes, float] = OrderedDict()

    def add(self, mark: bytes, at: float) -> None:
        """Remember ``mark``; a repeat inside the window costs nothing."""
        if mark in self.marks:
            return
        latest = next(reversed(self.marks.values()), at) if self.marks else at
        self.marks[mark] = at
        if at < latest:
            # Remote events can arrive late: keep the dict ordered by time.
            self.marks = OrderedDict(sorted(self.marks.items(), key=lambda kv: kv[1]))

    def count(self, now: float, window: float) -> int:
        """Marks still inside the window (older ones are forgotten)."""
        cutoff = now - window
        marks = self.marks
        while marks:
            first = next(iter(marks.values()))
            if first > cutoff:
                break
            marks.popitem(last=False)
        return len(marks)

    def release_time(self, budget: int, window: float) -> float:
        """When the count will drop below ``budget`` again."""
        times = list(self.marks.values())
        index = len(times) - budget
        return times[max(index, 0)] + window


@functools.lru_cache(maxsize=65536)
def normalize_station(value: str | None) -> str | None:
    """A Calling-Station-Id as one key: MAC addresses in any notation become aa:bb:cc:dd:ee:ff."""
    if not value:
        return None
    text = value.strip().lower()
    digits = "".join(ch for ch in text if ch in "0123456789abcdef")
    if len(digits) == 12 and len(text) in (12, 14, 17):
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return text[:64] or None


def fingerprint(user: str, pin: bytes) -> bytes:
    """Names the PIN tried (for distinct counting) without keeping the PIN itself."""
    return hashlib.sha256(b"radius-server-guess\x00" + user.encode() + b"\x00" + pin).digest()[:8]


def _mark(event: ThrottleEvent, with_user: bool) -> bytes:
    mark = event.fingerprint if event.fingerprint is not None else secrets.token_bytes(8)
    return (event.user.encode() + b"\x00" + mark) if with_user else mark


class Throttle:
    """In-memory budgets fed by ThrottleEvents; decisions are dictionary reads."""

    def __init__(self, settings: ThrottleSettings | None = None) -> None:
        self.settings = settings or ThrottleSettings()
        self.users: dict[str, Window] = {}
        self.devices: dict[tuple[str, str], Window] = {}
        self.stations: dict[str, Window] = {}
        self.global_window = Window()
        # user -> device -> last success; at most max_known_devices per user.
        self.known: dict[str, dict[str, float]] = {}
        self._locked: dict[tuple[Scope, str], float] = {}

    # -- decisions ------------------------------------------------------------

    def is_known(self, user: str, device: str | None, now: float) -> bool:
        """True when ``device`` signed in as ``user`` within known_device_days."""
        if device is None:
            return False
        seen = self.known.get(user, {}).get(device)
        return seen is not None and now - seen < self.settings.known_device_days * DAY

    def gate(self, user: str, device: str | None, now: float) -> Block | None:
        """The lock that applies to this attempt, or None to go on and check the PIN."""
        s = self.settings
        if not s.enabled:
            return None
        if device is not None and self.is_known(user, device, now):
            return self._over(
                self.devices.get((user, device)),
                s.device_budget,
                s.device_window,
                now,
                Scope.DEVICE,
                f"{user} {device}",
                True,
            )
        if device is not None:
            block = self._over(
                self.stations.get(device),
                s.station_budget,
                s.station_window,
                now,
                Scope.STATION,
                device,
                False,
            )
            if block:
                return block
        block = self._over(
            self.users.get(user), s.user_budget, s.user_window, now, Scope.USER, user, True
        )
        if block:
            return block
        return self._over(
            self.global_window, s.global_budget, s.global_window, now, Scope.GLOBAL, "*", False
        )

    @staticmethod
    def _over(
        window: Window | None,
        budget: int,
        span: float,
        now: float,
        scope: Scope,
        key: str,
        locked_out: bool,
    ) -> Block | None:
        if window is None or window.count(now, span) < budget:
            return None
        return Block(locked_out, scope, key, window.release_time(budget, span))

    # -- facts ----------------------------------------------------------------

    def apply(self, event: ThrottleEvent) -> list[Transition]:
        """Account for one event (local or from another instance); return lock changes."""
        if event.kind is EventKind.SUCCESS:
            self._remember_device(event)
            return []
        if event.kind is EventKind.CLEAR:
            return self._clear(event.user)
        return self._fail(event)

    def _remember_device(self, event: ThrottleEvent) -> None:
        if event.device is None:
            return
        devices = self.known.setdefault(event.user, {})
        devices[event.device] = max(event.at, devices.get(event.device, 0.0))
        if len(devices) > self.settings.max_known_devices:
            oldest = min(devices, key=devices.__getitem__)
            del devices[oldest]
            self.devices.pop((event.user, oldest), None)

    def _fail(self, event: ThrottleEvent) -> list[Transition]:
        s = self.settings
        changes: list[Transition] = []
        if event.known and event.device is not None:
            window = self.devices.setdefault((event.user, event.device), Window())
            window.add(_mark(event, False), event.at)
            self._note(
                changes,
                window,
                s.device_budget,
                s.device_window,
                event.at,
                Scope.DEVICE,
                f"{event.user} {event.device}",
            )
            return changes
        user_window = self.users.setdefault(event.user, Window())
        user_window.add(_mark(event, False), event.at)
        self._note(
            changes, user_window, s.user_budget, s.user_window, event.at, Scope.USER, event.user
        )
        if event.device is not None:
            station = self.stations.setdefault(event.device, Window())
            station.add(_mark(event, True), event.at)
            self._note(
                changes,
                station,
                s.station_budget,
                s.station_window,
                event.at,
                Scope.STATION,
                event.device,
            )
        self.global_window.add(_mark(event, True), event.at)
        self._note(
            changes,
            self.global_window,
            s.global_budget,
            s.global_window,
            event.at,
            Scope.GLOBAL,
            "*",
        )
        return changes

    def _note(
        self,
        changes: list[Transition],
        window: Window,
        budget: int,
        span: float,
        now: float,
        scope: Scope,
        key: str,
    ) -> None:
        count = window.count(now, span)
        if count >= budget and (scope, key) not in self._locked:
            until = window.release_time(budget, span)
            self._locked[(scope, key)] = until
            changes.append(Transition(True, scope, key, until, count))

    def _clear(self, user: str) -> list[Transition]:
        self.users.pop(user, None)
        for key in [k for k in self.devices if k[0] == user]:
            del self.devices[key]
        released = [k for k in self._locked if k[1] == user or k[1].startswith(user + " ")]
        for key in released:
            del self._locked[key]
        return [Transition(False, scope, key) for scope, key in released]

    def expire(self, now: float) -> list[Transition]:
        """Locks whose time has passed (for 'released' log events); call now and then."""
        ended = [k for k, until in self._locked.items() if until <= now]
        for key in ended:
            del self._locked[key]
        return [Transition(False, scope, key) for scope, key in ended]

    def locks(self, now: float) -> list[tuple[Scope, str, float]]:
        """Current locks (scope, key, until)."""
        return [(scope, key, until) for (scope, key), until in self._locked.items() if until > now]

    def load(self, events: Iterable[ThrottleEvent]) -> None:
        """Replay history (start-up, or the admin command's view)."""
        for event in events:
            self.apply(event)


@dataclass(slots=True)
class Outbox:
    """Local events waiting to be written to the database (off the hot path)."""

    pending: list[ThrottleEvent] = field(default_factory=list)
    limit: int = 100_000

    def push(self, event: ThrottleEvent) -> None:
        """Queue an event; beyond ``limit`` the oldest are dropped (memory bound)."""
        self.pending.append(event)
        if len(self.pending) > self.limit:
            del self.pending[: len(self.pending) - self.limit]

    def take(self) -> list[ThrottleEvent]:
        """Everything queued, emptying the box."""
        taken, self.pending = self.pending, []
        return taken
