"""One-time messages after a form post (Post/Redirect/Get), kept for the next page.

A form that changed something answers 303 to a page (a reload repeats nothing)
and leaves what happened here, for that session's next page to show once.
Kept in the process's memory, keyed by the web session's id, not in a cookie:
a message may name many members (a reminder batch's per-member results), the
browser cannot forge one, and nothing is written to the database for it. A
restart of ``radius-server web`` loses an unread message; the action itself is
done and in the audit history. Bounded: the oldest sessions' messages go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from fastapi import Request

# Sessions with an unread message at most (each holds a few lines).
MAX_WAITING = 2000


@dataclass(frozen=True, slots=True)
class Flash:
    """A message for the next page: ``kind`` "notice" or "error"; ``data`` for a results page."""

    text: str
    kind: str = "notice"
    data: dict[str, Any] = field(default_factory=dict)


class FlashBox:
    """Unread messages by session id (thread-safe: sync routes run in a thread pool)."""

    def __init__(self, limit: int = MAX_WAITING) -> None:
        self._waiting: OrderedDict[str, Flash] = OrderedDict()
        self._limit = limit
        self._lock = Lock()

    def put(self, session_id: str, message: Flash) -> None:
        """Leave ``message`` for the session's next page (replacing an unread one)."""
        with self._lock:
            self._waiting.pop(session_id, None)
            self._waiting[session_id] = message
            while len(self._waiting) > self._limit:
                self._waiting.popitem(last=False)

    def take(self, session_id: str) -> Flash | None:
        """The session's unread message, now read (None when there is none)."""
        with self._lock:
            return self._waiting.pop(session_id, None)


def box(request: Request) -> FlashBox:
    """The application's box (made on first use)."""
    state = request.app.state
    found = getattr(state, "flash_box", None)
    if found is None:
        found = state.flash_box = FlashBox()
    return found


def flash(request: Request, session_id: str, text: str, kind: str = "notice", **data: Any) -> None:
    """Leave ``text`` (and ``data``) for the next page this session opens."""
    box(request).put(session_id, Flash(text, kind, dict(data)))


def take(request: Request, session_id: str) -> Flash | None:
    """This session's message, once."""
    return box(request).take(session_id)
