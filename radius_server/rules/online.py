"""Which devices each member has online: the memory the device limit is judged from.

Pure: no I/O and no clock of its own (every time is POSIX seconds passed in).
``runtime/online.py`` fills it from three sources, and the engine reads it:

- this server's accounting records, through :meth:`OnlineDevices.apply`, as soon
  as the accounting writer has made each one durable;
- every instance's session rows, followed from the database (:meth:`observe`),
  so a device online through another server instance counts here too;
- accepts (:meth:`accepted`), counted for ``pending_seconds`` until their
  Accounting-Start arrives, so two devices signing in at the same moment cannot
  both slip past the limit on one instance. Only accepts with a station: one
  without can never be told from the next (a monitoring probe, ``radtest``), so
  holding each would soon refuse the member; it counts once its session exists.

A device is a normalised Calling-Station-Id (``rules.throttle.normalize_station``):
one device roaming between access points, or signing in again, has several
sessions but counts once. A session without a station cannot be matched to any
other, so it counts as a device of its own.

The same session is seen several times and in any order (its own records, then
its row, read again by the follower's overlap window), so each observation
carries the time it describes and the latest wins; at the same time a closed
session stays closed. Closed sessions are remembered until they are too old to
matter, so a late copy of an older state cannot bring them back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from radius_server.rules.accounting import AccountingRecord, StatusType

# Keys of devices without a station start with a NUL: normalize_station never
# returns one (it escapes control characters), so they cannot meet a real station.
_UNNAMED = "\0"
_EMPTY: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Session:
    """What the view keeps of one session."""

    member_id: int | None
    device: str
    open: bool
    at: float  # the time of the latest state we know (POSIX seconds)
    nas: tuple[str, str | None, str | None]  # client name, NAS-IP-Address, NAS-Identifier


class OnlineDevices:
    """Per member, the devices online now: open sessions plus recent accepts.

    Not thread-safe: the event loop that runs the engine owns it, and every
    caller (engine, accounting writer, follower) runs on that loop.
    """

    def __init__(self, pending_seconds: float = 60.0, silent_for: float = 1320.0) -> None:
        # How long an accept counts before its Accounting-Start shows the session.
        self.pending_seconds = pending_seconds
        # A session the NAS has not spoken of for this long is stale: it no longer counts.
        self.silent_for = silent_for
        self._sessions: dict[str, _Session] = {}
        # member id -> device -> open sessions on it
        self._online: dict[int, dict[str, int]] = {}
        # member id -> device -> until when its accept counts
        self._pending: dict[int, dict[str, float]] = {}
        # Open states older than this are stale on arrival (moved on by expire()).
        self._stale_before = float("-inf")

    # -- what the engine reads and tells -----------------------------------------------

    def stations(self, member_id: int, now: float) -> Collection[str]:
        """The member's devices online at ``now``: a collection for ``in`` and ``len``.

        Valid until the view next changes (the judge reads it at once).
        """
        online = self._online.get(member_id)
        pending = self._pending.get(member_id)
        if pending is None:
            return online or _EMPTY  # a dict: `in` and len() read its keys
        for until in pending.values():
            if until <= now:  # one has had its while: drop those
                for device, until in list(pending.items()):
                    if until <= now:
                        del pending[device]
                if not pending:
                    del self._pending[member_id]
                    return online or _EMPTY
                break
        if not online:
            return pending
        return online.keys() | pending.keys()

    def accepted(self, member_id: int, station: str | None, now: float) -> None:
        """An Access-Accept for ``station``: count it for a while (None: not held, see above)."""
        if station is None:
            return
        online = self._online.get(member_id)
        if online is not None and station in online:
            return  # already online: its session counts it
        pending = self._pending.get(member_id)
        if pending is None:
            self._pending[member_id] = {station: now + self.pending_seconds}
        else:
            pending[station] = now + self.pending_seconds

    # -- what sessions tell ----------------------------------------------------------------

    def apply(self, record: AccountingRecord) -> None:
        """One durable accounting record of this server (the accounting writer's hook)."""
        if record.status.per_session:
            self.observe(
                record.unique_key,
                record.customer_id,
                record.calling_station_id,
                record.status is not StatusType.STOP,
                record.received_at,
                (record.client_name, record.nas_ip_address, record.nas_identifier),
                # As in the store: an Interim-Update never reopens a closed session; a
                # Start reusing its Acct-Session-Id is a new session.
                reopens=record.status is StatusType.START,
            )
        else:
            self.nas_restarted(
                record.client_name,
                record.nas_ip_address,
                record.nas_identifier,
                record.received_at,
            )

    def observe(
        self,
        key: str,
        member_id: int | None,
        station: str | None,
        is_open: bool,
        at: float,
        nas: tuple[str, str | None, str | None] = ("", None, None),
        *,
        reopens: bool = True,
    ) -> None:
        """One state of the session ``key``: open or closed at ``at`` (POSIX seconds).

        Older than what the view knows: ignored. At the same time, closed wins.
        An open state older than the stale horizon counts as closed. ``reopens``
        False: an open state does not reopen a session known closed (an
        Interim-Update; a session row, the store's truth, always may).
        """
        if is_open and at < self._stale_before:
            is_open = False
        entry = self._sessions.get(key)
        if entry is None:
            if not is_open and at < self._stale_before:
                return  # closed long ago: nothing to count, nothing to remember
            device = station if station is not None else _UNNAMED + key
            entry = _Session(member_id, device, False, at, nas)
            self._sessions[key] = entry
        else:
            older = at < entry.at or (at == entry.at and (is_open or not entry.open))
            if older or (is_open and not entry.open and not reopens):
                return
        if entry.open:
            self._uncount(entry)
        entry.at = at
        entry.open = is_open
        if member_id is not None:
            entry.member_id = member_id
        if station is not None:
            entry.device = station
        if is_open:
            self._count(entry)

    def nas_restarted(
        self, client_name: str, nas_ip_address: str | None, nas_identifier: str | None, at: float
    ) -> int:
        """Accounting-On/Off (RFC 2866 5.1): that NAS's sessions heard before ``at`` are over.

        The same sessions the store closes; returns how many.
        """
        closed = [
            entry
            for entry in self._sessions.values()
            if entry.open
            and entry.at <= at
            and entry.nas[0] == client_name
            and (nas_ip_address is None or entry.nas[1] == nas_ip_address)
            and (nas_identifier is None or entry.nas[2] == nas_identifier)
        ]
        for entry in closed:
            self._uncount(entry)
            entry.open = False
            entry.at = at
        return len(closed)

    def expire(self, now: float) -> int:
        """Stop counting sessions silent for ``silent_for`` and accepts past their while.

        Closed sessions older than that are forgotten: any state of theirs that
        could still arrive is stale on arrival. Returns how many sessions went stale.
        """
        self._stale_before = now - self.silent_for
        stale = 0
        for key, entry in list(self._sessions.items()):
            if entry.at >= self._stale_before:
                continue
            if entry.open:
                self._uncount(entry)
                stale += 1
            del self._sessions[key]
        for member_id, pending in list(self._pending.items()):
            for device, until in list(pending.items()):
                if until <= now:
                    del pending[device]
            if not pending:
                del self._pending[member_id]
        return stale

    # -- for logs and tests ----------------------------------------------------------------

    @property
    def open_sessions(self) -> int:
        """Sessions counted now."""
        return sum(sum(devices.values()) for devices in self._online.values())

    def members(self) -> Iterable[int]:
        """Members with a device online or pending."""
        return self._online.keys() | self._pending.keys()

    # -- inside ----------------------------------------------------------------------------

    def _count(self, entry: _Session) -> None:
        if entry.member_id is None:
            return  # a session we could not tie to a member limits no one
        devices = self._online.setdefault(entry.member_id, {})
        devices[entry.device] = devices.get(entry.device, 0) + 1
        pending = self._pending.get(entry.member_id)
        if pending is not None and pending.pop(entry.device, None) is not None and not pending:
            del self._pending[entry.member_id]

    def _uncount(self, entry: _Session) -> None:
        if entry.member_id is None:
            return
        devices = self._online.get(entry.member_id)
        if devices is None:
            return
        left = devices.get(entry.device, 0) - 1
        if left > 0:
            devices[entry.device] = left
        else:
            devices.pop(entry.device, None)
            if not devices:
                del self._online[entry.member_id]
