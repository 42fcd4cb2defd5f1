"""Guessing protection as admins see it: locks, failures, known devices; clears and changes.

State is never kept here: it is replayed from the shared event log with the
guard's own replay (guard.replay_shared), so an admin sees what a starting
server would. A change is an event in that log, which every server applies
within a second, written in one transaction with its audit row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.throttle import (
    DAY,
    EventKind,
    Throttle,
    ThrottleEvent,
    ThrottleSettings,
    normalize_station,
)
from radius_server.runtime.guard import replay_shared
from radius_server.store.customers import CustomerRepository, normalize_email
from radius_server.store.errors import InvalidValue, NotFound
from radius_server.store.journal import audit
from radius_server.store.throttle_log import ThrottleLog

# The instance name of events admins write (servers apply every instance's but their own).
ADMIN_INSTANCE = "cli"


@dataclass(frozen=True, slots=True)
class Lock:
    """One lock in force: its scope (user, device, station, location, global), who, until when."""

    scope: str
    key: str
    until: float


@dataclass(frozen=True, slots=True)
class UserFailures:
    """A member's recent failures from unknown devices, against their budget."""

    user: str
    failures: int
    budget: int


@dataclass(frozen=True, slots=True)
class LockoutReport:
    """Locks in force, and members with failures, most failures first."""

    locks: tuple[Lock, ...]
    users_with_failures: tuple[UserFailures, ...]


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """A device known for a member: last seen, and known until (seconds since the epoch)."""

    email: str
    device: str
    last_seen: float
    until: float


def parse_mac(text: str) -> str:
    """A MAC address in the notation guessing protection keys devices by (InvalidValue)."""
    device = normalize_station(text)
    if device is None or len(device) != 17 or device.count(":") != 5:
        raise InvalidValue(f"not a MAC address: {text.strip()[:40]!r}")
    return device


class GuessingAdmin:
    """Lockouts and known devices, acting as ``actor``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        actor: str,
        settings: ThrottleSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self.actor = actor
        self.settings = settings
        self.clock = clock
        self._log = ThrottleLog(sessions, ADMIN_INSTANCE)

    def replay(self, now: float) -> Throttle:
        """The shared state at ``now``, as a starting server would rebuild it."""
        throttle = Throttle(self.settings)
        replay_shared(throttle, self._log, now)
        return throttle

    def _share(self, event: ThrottleEvent, action: str, **details: str) -> None:
        """Write the event and its audit row in one transaction: both or neither."""
        with self._sessions() as session:
            self._log.add(session, [event])
            audit(session, self.actor, action, event.user, **details)
            session.commit()

    # -- lockouts ---------------------------------------------------------------

    def lockouts(self) -> LockoutReport:
        """Current locks and the members with failures in their window."""
        now = self.clock()
        throttle = self.replay(now)
        locks = tuple(
            Lock(scope.value, key, until)
            for scope, key, until in sorted(throttle.locks(now), key=lambda r: (r[0], r[1]))
        )
        counted = (
            UserFailures(
                user, window.count(now, self.settings.user_window), self.settings.user_budget
            )
            for user, window in throttle.users.items()
        )
        failures = sorted((f for f in counted if f.failures), key=lambda f: -f.failures)
        return LockoutReport(locks, tuple(failures))

    def clear(self, email: str) -> str:
        """Lift the locks on a member (the PIN is unchanged); return the normalised email.

        Every server drops this member's failure counts within a second.
        """
        user = normalize_email(email)
        self._share(ThrottleEvent(EventKind.CLEAR, self.clock(), user), "lockout.clear")
        return user

    # -- known devices ------------------------------------------------------------

    def devices(self, email: str | None = None) -> list[KnownDevice]:
        """Known devices of one member, or of everyone; most recently seen first per member."""
        now = self.clock()
        only = normalize_email(email) if email else None
        throttle = self.replay(now)
        keep = self.settings.known_device_days * DAY
        return [
            KnownDevice(user, device, seen, seen + keep)
            for user, devices in sorted(throttle.known.items())
            if only in (None, user)
            for device, seen in sorted(devices.items(), key=lambda kv: -kv[1])
            if throttle.is_known(user, device, now)
        ]

    def add_device(self, email: str, mac: str) -> tuple[str, str]:
        """Make a device known for a member on every server; return (email, device).

        It ages like a device that signed in itself (known_device_days after its
        last sign-in). No devices for strangers: NotFound names the email.
        """
        user = normalize_email(email)
        device = parse_mac(mac)
        CustomerRepository(self._sessions, actor=self.actor).get(user)
        event = ThrottleEvent(EventKind.SUCCESS, self.clock(), user, device, known=True)
        self._share(event, "device.add", device=device)
        return user, device

    def remove_device(self, email: str, mac: str) -> tuple[str, str]:
        """Forget a known device of a member on every server; return (email, device)."""
        user = normalize_email(email)
        device = parse_mac(mac)
        now = self.clock()
        if not self.replay(now).is_known(user, device, now):
            raise NotFound(f"{device} is not a known device of {user}")
        event = ThrottleEvent(EventKind.FORGET, now, user, device, known=True)
        self._share(event, "device.remove", device=device)
        return user, device
