"""The decision log's pure parts: a bounded queue that counts what it drops, and rows.

The engine appends one tuple per Access-Request it answers (accept or reject) to a
:class:`DecisionQueue`; runtime/decisions.py takes batches from it and writes them to
the ``auth_decisions`` table. Decisions are a convenience record, not accounting
(docs/architecture.md "Recent decisions"): when the database is away the queue keeps
the newest ``bound`` entries and counts the older ones it lets go.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from radius_server.rules.throttle import MAX_IDENTITY, MAX_STATION, safe_text

# What the engine appends, in this order (a plain tuple: the hot path builds nothing else):
# (at: epoch seconds, user: str | None, client: str, calling_station: str | None,
#  method: str | None, outcome: str, reason: str, plan: str | None)
Entry = tuple[float, str | None, str, str | None, str | None, str, str, str | None]

# Client names are checked printable when an admin saves them, and reasons are the
# closed set of rules/decision.py: only their bound is applied here.
MAX_CLIENT = 100
MAX_METHOD = 32
MAX_PLAN = 64


class DecisionQueue:
    """A FIFO of entries holding at most ``bound``; past it the oldest go, counted."""

    __slots__ = ("_items", "bound", "dropped")

    def __init__(self, bound: int) -> None:
        if bound < 1:
            raise ValueError("bound must be at least 1")
        self.bound = bound
        self._items: deque[Entry] = deque()
        # Entries let go since the queue was made (never reset: readers take differences).
        self.dropped = 0

    def append(self, entry: Entry) -> None:
        """Queue ``entry``; if that passes the bound, let the oldest go (the hot path)."""
        items = self._items
        items.append(entry)
        if len(items) > self.bound:
            items.popleft()
            self.dropped += 1

    def take(self, limit: int) -> list[Entry]:
        """Up to ``limit`` of the oldest entries, removed from the queue."""
        items = self._items
        count = min(limit, len(items))
        return [items.popleft() for _ in range(count)]

    def put_back(self, batch: list[Entry]) -> None:
        """Return a batch that could not be written to the front, oldest first.

        What arrived meanwhile stays behind it; whatever passes the bound then goes
        from the front (the oldest), counted.
        """
        self._items.extendleft(reversed(batch))
        excess = len(self._items) - self.bound
        for _ in range(max(0, excess)):
            self._items.popleft()
        self.dropped += max(0, excess)

    def __len__(self) -> int:
        return len(self._items)


class DecisionRow(NamedTuple):
    """One ``auth_decisions`` row, storable (wire text cleaned and bounded). Never a PIN.

    A tuple, not a dataclass: thousands are made per second under load, and a tuple
    is made in C (and goes into the store's JSON parameter as an array as it is).
    """

    at: float
    user_name: str
    customer_id: int | None
    client_name: str
    calling_station: str | None
    method: str | None
    outcome: str
    reason: str
    plan: str | None


def storable_user(user: str | None) -> str:
    """The user as the table keeps it: trimmed, lower-cased when it is an email, safe text."""
    text = (user or "").strip()
    if "@" in text:
        # Emails are stored lower-cased everywhere (customers.email), so a filter by
        # member matches what an unknown-user attempt typed in another case.
        text = text.lower()
    return safe_text(text, MAX_IDENTITY)


def _optional(value: str | None, limit: int) -> str | None:
    if not value:
        return None
    if value.isprintable() and len(value) <= limit:
        return value  # the common case: no call
    return safe_text(value, limit) or None


def to_rows(
    entries: Iterable[Entry], member_id: Callable[[str], int | None] | Mapping[str, int]
) -> list[DecisionRow]:
    """Rows for ``entries``; ``member_id(email)`` gives the member's id (None: no member).

    Off the hot path, but once per decision: kept to a few C-level calls per row.
    """
    lookup = member_id.get if isinstance(member_id, Mapping) else member_id
    rows = []
    append = rows.append
    for at, user, client, station, method, outcome, reason, plan in entries:
        name = storable_user(user)
        append(
            DecisionRow(
                at,
                name,
                lookup(name) if name else None,
                client if len(client) <= MAX_CLIENT else client[:MAX_CLIENT],
                _optional(station, MAX_STATION),
                _optional(method, MAX_METHOD),
                outcome,
                reason,
                _optional(plan, MAX_PLAN),
            )
        )
    return rows


def last_sign_ins(rows: Iterable[DecisionRow]) -> dict[int, float]:
    """customer id -> the latest accept among ``rows`` (what ``last_sign_in_at`` becomes)."""
    latest: dict[int, float] = {}
    for row in rows:
        member = row.customer_id
        if row.outcome == "accept" and member is not None and row.at > latest.get(member, -1.0):
            latest[member] = row.at
    return latest


def due_sign_ins(
    latest: Mapping[int, float], written: Mapping[int, float], resolution: float
) -> dict[int, float]:
    """The sign-ins among ``latest`` worth writing: ``resolution`` seconds or more after
    the one last written for that member (``written``).

    A member's last sign-in is shown to the minute; a phone re-authenticating every
    few seconds (or a benchmark) must not turn every batch into an UPDATE per member.
    """
    minus_infinity = float("-inf")
    return {
        member: at
        for member, at in latest.items()
        if at - written.get(member, minus_infinity) >= resolution
    }
