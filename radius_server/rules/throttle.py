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
- per location (the RADIUS client, and the access point named in
  Called-Station-Id when there is one), unknown-device failures there ->
  ``throttled`` for unknown devices at that location only: a guesser must be in
  radio range, so that is where the harm of a defensive lock belongs;
- global, unknown-device failures across everything -> ``throttled``
  (defensive mode: spraying with rotated MAC addresses from several locations
  ends here; this ceiling is what bounds spraying).

A failure from an unknown device is forgiven by the location, station and
global budgets when that same device signs in successfully as that same user
soon after (a newcomer's typo). Only the right PIN earns that, so an attacker
cannot use it; the per-user budget still counts the failure. A rule that
judged a wrong PIN by how close it is to the right one ("near miss") was
rejected: whether a budget moved would tell a guesser that his guess is one
typo away from a member's PIN.

While a budget is exhausted the request is rejected *without* checking the
PIN, so a right guess during a lock confirms nothing. Known devices are judged
only by their own budget: a lock-out of a member's email (by anyone failing on
purpose) never stops the devices that member has signed in with.

Nothing here touches the PIN itself; only this server's answers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
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
    location_budget: int = 40
    location_window: float = HOUR
    global_budget: int = 120
    global_window: float = HOUR
    # A failure followed by a success of the same (user, device) within this
    # many seconds was a typo: forgiven by the station, location and global budgets
    # (0: nothing is forgiven).
    forgive_window: float = 15 * 60.0
    known_device_days: float = 90.0
    max_known_devices: int = 3
    enabled: bool = True


class Scope(StrEnum):
    """Which budget a lock belongs to."""

    USER = "user"
    DEVICE = "device"
    STATION = "station"
    LOCATION = "location"
    GLOBAL = "global"


class EventKind(StrEnum):
    """What is shared between instances."""

    FAILURE = "failure"
    SUCCESS = "success"
    CLEAR = "clear"
    FORGET = "forget"  # an admin removed a device from a member's known devices


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
    # Where the attempt came from (see location_key); None: no location budget.
    location: str | None = None
    # Which fingerprint key made ``fingerprint`` (see key_id); instances sharing
    # a budget must share the key, and a different id is reported, not trusted.
    key_id: str | None = None


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


# Longest identity kept by guessing protection (the store's user_key column).
MAX_IDENTITY = 254
MAX_STATION = 64


def safe_text(value: str, limit: int) -> str:
    """Wire text made storable: control characters and lone surrogates dropped, bounded.

    Identities and station ids come from the wire; PostgreSQL refuses a NUL in
    a text column and a lone surrogate cannot be encoded, so either would make
    the shared event log refuse the whole batch it is in.
    """
    if value.isprintable() and len(value) <= limit:
        return value  # the common case costs one scan
    # Lone surrogates (undecodable bytes smuggled through) are not printable either.
    kept = "".join(ch for ch in value if ch.isprintable())
    return kept[:limit]


def identity_key(user_name: str) -> str:
    """A User-Name (or inner identity) as guessing protection keys it: trimmed, lower, safe."""
    return safe_text(user_name.strip().lower(), MAX_IDENTITY)


@functools.lru_cache(maxsize=65536)
def normalize_station(value: str | None) -> str | None:
    """A Calling-Station-Id as one key: MAC addresses in any notation become aa:bb:cc:dd:ee:ff."""
    if not value:
        return None
    text = value.strip().lower()
    digits = "".join(ch for ch in text if ch in "0123456789abcdef")
    if len(digits) == 12 and len(text) in (12, 14, 17):
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return safe_text(text, MAX_STATION) or None


@functools.lru_cache(maxsize=4096)
def location_key(client: str, called_station: str | None) -> str:
    """Where an attempt comes from: the RADIUS client, plus the access point's MAC.

    Called-Station-Id is written by the NAS (RFC 3580 3.20: "AP-MAC:SSID"), not
    by the device, and the packet is signed with the client's secret, so a
    guesser cannot pick another location. The SSID is ignored: one radio, one place.
    """
    name = safe_text(client, 40)
    text = (called_station or "").strip()
    # "AA-BB-CC-DD-EE-FF:SSID", "AA:BB:CC:DD:EE:FF:SSID" or "aabbccddeeff:SSID".
    for candidate in (text[:17], text[:12]):
        mac = normalize_station(candidate)
        if mac is not None and len(mac) == 17 and mac.count(":") == 5:
            return f"{name}/{mac}"
    return name


def fingerprint(key: bytes, user: str, pin: bytes) -> bytes:
    """Names the PIN tried (for distinct counting) without keeping the PIN itself.

    HMAC-SHA256 under a key that is not in the database: with a plain hash,
    anyone reading the shared event log could try the 100,000 codes and learn
    the wrong PINs members typed (often one typo from the right one).
    """
    message = b"radius-server-guess\x00" + user.encode("utf-8", "replace") + b"\x00" + pin
    return hmac.new(key, message, hashlib.sha256).digest()[:8]


def key_id(key: bytes) -> str:
    """A short public name of a fingerprint key: tells instances whether they share one."""
    return hmac.new(key, b"radius-server-key-id", hashlib.sha256).hexdigest()[:8]


def _mark(event: ThrottleEvent, with_user: bool) -> bytes:
    mark = event.fingerprint if event.fingerprint is not None else secrets.token_bytes(8)
    return (event.user.encode() + b"\x00" + mark) if with_user else mark


@dataclass(frozen=True, slots=True)
class _Counted:
    """One failure's mark in a shared window (station, location, site), for forgiveness."""

    at: float
    mark: bytes
    window: Window
    budget: int
    span: float
    scope: Scope
    key: str


# The known devices of a user who has none (read only).
_NONE_KNOWN: dict[str, float] = {}


class Throttle:
    """In-memory budgets fed by ThrottleEvents; decisions are dictionary reads."""

    def __init__(self, settings: ThrottleSettings | None = None) -> None:
        self.settings = settings or ThrottleSettings()
        self.users: dict[str, Window] = {}
        self.devices: dict[tuple[str, str], Window] = {}
        self.stations: dict[str, Window] = {}
        self.locations: dict[str, Window] = {}
        self.global_window = Window()
        # user -> device -> last success; at most max_known_devices per user.
        self.known: dict[str, dict[str, float]] = {}
        self._locked: dict[tuple[Scope, str], float] = {}
        # (user, unknown device) -> its recent failures' marks in the shared
        # windows, oldest first, so a success soon after can forgive them.
        self._recent: OrderedDict[tuple[str, str], list[_Counted]] = OrderedDict()

    # -- decisions ------------------------------------------------------------

    def is_known(self, user: str, device: str | None, now: float) -> bool:
        """True when ``device`` signed in as ``user`` within known_device_days."""
        if device is None:
            return False
        seen = self.known.get(user, _NONE_KNOWN).get(device)
        return seen is not None and now - seen < self.settings.known_device_days * DAY

    def gate(
        self, user: str, device: str | None, now: float, location: str | None = None
    ) -> Block | None:
        """The lock that applies to this attempt, or None to go on and check the PIN."""
        s = self.settings
        if not s.enabled:
            return None
        # is_known(user, device, now), inline: every sign-in asks.
        seen = None if device is None else self.known.get(user, _NONE_KNOWN).get(device)
        if seen is not None and now - seen < s.known_device_days * DAY:
            window = self.devices.get((user, device))  # type: ignore[arg-type]
            if window is None:
                return None  # a known device without failures: the usual sign-in
            return self._over(
                window,
                s.device_budget,
                s.device_window,
                now,
                Scope.DEVICE,
                f"{user} {device}",
                True,
            )
        # Unknown devices: the first exhausted budget answers, in this order:
        # station, user (so a locked email says locked_out), location, site.
        station = self.stations.get(device) if device is not None else None
        place = self.locations.get(location) if location is not None else None
        checks = (
            (station, s.station_budget, s.station_window, Scope.STATION, device, False),
            (self.users.get(user), s.user_budget, s.user_window, Scope.USER, user, True),
            (place, s.location_budget, s.location_window, Scope.LOCATION, location, False),
            (self.global_window, s.global_budget, s.global_window, Scope.GLOBAL, "*", False),
        )
        for window, budget, span, scope, key, locked_out in checks:
            block = self._over(window, budget, span, now, scope, key or "", locked_out)
            if block:
                return block
        return None

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
            return self._remember_device(event)
        if event.kind is EventKind.CLEAR:
            return self._clear(event.user)
        if event.kind is EventKind.FORGET:
            self.forget_device(event.user, event.device)
            return []
        return self._fail(event)

    def forget_device(self, user: str, device: str | None) -> None:
        """The device is no longer known for ``user`` (an admin removed it)."""
        if device is None:
            return
        self.known.get(user, {}).pop(device, None)
        self.devices.pop((user, device), None)

    def _remember_device(self, event: ThrottleEvent) -> list[Transition]:
        if event.device is None:
            return []
        released = self._forgive(event.user, event.device, event.at)
        devices = self.known.setdefault(event.user, {})
        devices[event.device] = max(event.at, devices.get(event.device, 0.0))
        if len(devices) > self.settings.max_known_devices:
            oldest = min(devices, key=devices.__getitem__)
            del devices[oldest]
            self.devices.pop((event.user, oldest), None)
        return released

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
        # Station, location and the site ceiling count the same (user, PIN) mark.
        shared = _mark(event, True)
        scopes: list[tuple[Window, int, float, Scope, str]] = []
        if event.device is not None:
            station = self.stations.setdefault(event.device, Window())
            scopes.append(
                (station, s.station_budget, s.station_window, Scope.STATION, event.device)
            )
        if event.location is not None:
            place = self.locations.setdefault(event.location, Window())
            scopes.append(
                (place, s.location_budget, s.location_window, Scope.LOCATION, event.location)
            )
        scopes.append((self.global_window, s.global_budget, s.global_window, Scope.GLOBAL, "*"))
        for window, budget, span, scope, key in scopes:
            window.add(shared, event.at)
            self._note(changes, window, budget, span, event.at, scope, key)
        if event.device is not None and s.forgive_window > 0:
            touched = [_Counted(event.at, shared, *place) for place in scopes]
            self._remember_failure(event.user, event.device, touched, event.at)
        return changes

    def _remember_failure(
        self, user: str, device: str, touched: list[_Counted], now: float
    ) -> None:
        key = (user, device)
        self._recent.setdefault(key, []).extend(touched)
        self._recent.move_to_end(key)
        # Keep only what a success could still forgive (bounded by the budgets).
        horizon = now - self.settings.forgive_window
        while self._recent:
            first_key, marks = next(iter(self._recent.items()))
            if marks[-1].at >= horizon:
                break
            del self._recent[first_key]

    def _forgive(self, user: str, device: str, at: float) -> list[Transition]:
        """A success right after failures from the same device: those were typos.

        A defensive lock they started ends at once if the budget is no longer spent.
        """
        released: list[Transition] = []
        for counted in self._recent.pop((user, device), []):
            if not at - self.settings.forgive_window <= counted.at <= at:
                continue
            counted.window.marks.pop(counted.mark, None)
            lock = (counted.scope, counted.key)
            if lock in self._locked and counted.window.count(at, counted.span) < counted.budget:
                del self._locked[lock]
                released.append(Transition(False, counted.scope, counted.key))
        return released

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
