"""Recent sign-in decisions and members' activity, for the front desk (read-only).

"Why can't I get on?": the decisions the servers recorded (runtime/decisions.py),
newest first, filtered by member, access point or outcome; and, for a page of the
members table, each member's last sign-in and devices online in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.decision import Outcome
from radius_server.rules.decision_log import storable_user
from radius_server.store.decisions import DecisionRecord, DecisionStore, MemberActivity
from radius_server.store.errors import InvalidValue

MAX_LIMIT = 1000
# Outcomes the servers record: an answered Access-Request.
OUTCOMES = (Outcome.ACCEPT.value, Outcome.REJECT.value)
# Members per activity call at most (a page of the members table).
MAX_ACTIVITY_PAGE = 1000


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """Decisions newest first; ``next_before``: pass as ``before_id`` for the next page."""

    decisions: tuple[DecisionRecord, ...]
    next_before: int | None


class DecisionAdmin:
    """Reading recorded decisions; nothing goes to the audit trail."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._store = DecisionStore(sessions)
        self.actor = actor

    def recent(
        self,
        user: str | None = None,
        client: str | None = None,
        outcome: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> DecisionPage:
        """Recorded decisions newest first, every filter applied, at most ``limit``.

        ``user`` is matched as the servers store it (a member's email, or the
        User-Name as sent, lower-cased when it is an email); ``client`` is the
        access point's name; ``before_id`` continues a previous page.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue(f"the limit must be between 1 and {MAX_LIMIT}")
        if outcome is not None and outcome not in OUTCOMES:
            raise InvalidValue("the outcome must be accept or reject")
        if before_id is not None and before_id < 1:
            raise InvalidValue("before_id must be a positive decision id")
        name = None if user is None else storable_user(user)
        nas = None if client is None else client.strip()
        found = self._store.recent(
            user=name or None,
            client=nas or None,
            outcome=outcome,
            limit=limit + 1,
            before_id=before_id,
        )
        page = tuple(found[:limit])
        more = len(found) > limit
        return DecisionPage(page, page[-1].id if more and page else None)

    def activity(self, customer_ids: Sequence[int]) -> dict[int, MemberActivity]:
        """Last sign-in and devices online for a page of members (one query, any table size).

        Members not found are left out of the answer.
        """
        if len(customer_ids) > MAX_ACTIVITY_PAGE:
            raise InvalidValue(f"at most {MAX_ACTIVITY_PAGE} members at once")
        return self._store.activity(customer_ids)
