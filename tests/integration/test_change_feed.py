"""The change feed a server follows: gaps in the sequence, and applying each entry once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.directory import Directory
from radius_server.runtime.sync import DirectorySync
from radius_server.store import database
from radius_server.store.customers import CustomerRepository
from radius_server.store.feed import ChangeFeed
from radius_server.store.journal import utcnow
from radius_server.store.models import Change, Customer


class Log:
    """Records events by name."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    info = warning = error = debug = _record

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.events if name == event]


@pytest.fixture
def sessions(clean_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = database.make_engine(clean_db_url, timeout=5)
    try:
        yield database.make_session_factory(engine)
    finally:
        engine.dispose()


def _add(sessions: sessionmaker[Session], *emails: str) -> None:
    repo = CustomerRepository(sessions, actor="test")
    for email in emails:
        repo.add(email)


def test_changes_after_returns_only_unread_entries(sessions: sessionmaker[Session]) -> None:
    """Above the position, or in a hole: never an entry already read between them."""
    _add(sessions, "a@example.com", "b@example.com", "c@example.com")
    feed = ChangeFeed(sessions)
    assert feed.changes_after(1).seqs == [2, 3]
    assert feed.changes_after(3, {2}).seqs == [2]
    assert feed.changes_after(3, set(range(2, 500))).seqs == [2, 3]  # many holes: by range


def test_a_change_behind_a_gap_is_applied_once(sessions: sessionmaker[Session]) -> None:
    """A rolled-back insert (or a crash) leaves a gap; what follows it is applied once.

    Before the fix every poll re-read from below the gap and re-applied (and
    logged) the change after it, until the gap expired 30 s later.
    """
    _add(sessions, "a@example.com")
    log = Log()
    sync = DirectorySync(ChangeFeed(sessions), Directory(), log)

    async def scenario() -> None:
        await sync.poll_once()  # full load at seq 1
        _add(sessions, "b@example.com", "c@example.com")
        with sessions() as session:  # seq 2 never commits
            session.execute(delete(Change).where(Change.seq == 2))
            session.commit()
        for _ in range(5):
            await sync.poll_once()
        sync.stop()

    asyncio.run(scenario())
    assert [e["count"] for e in log.named("customers_updated")] == [1]
    assert sync.directory.members.get("c@example.com") is not None
    assert sync.cursor.holes == [2]


def test_a_change_still_committing_during_a_full_load_is_not_lost(
    sessions: sessionmaker[Session],
) -> None:
    """Seq 3 visible, seq 2 not yet when the server loads: seq 2 is still awaited.

    Before the fix the load set the cursor at 3 with no holes, and the change
    behind seq 2 was never read (until the next full reload).
    """
    _add(sessions, "a@example.com", "b@example.com", "c@example.com")
    with sessions() as session:
        b = session.scalars(select(Customer).where(Customer.email == "b@example.com")).one()
        session.execute(delete(Change).where(Change.seq == 2))  # not committed yet
        session.commit()
        b_id = b.id
    log = Log()
    sync = DirectorySync(ChangeFeed(sessions), Directory(), log)

    async def scenario() -> None:
        await sync.poll_once()  # full load at seq 3
        with sessions() as session:  # the slow transaction commits now
            session.execute(update(Customer).where(Customer.id == b_id).values(active=False))
            session.add(Change(seq=2, entity="customer", entity_id=b_id, at=utcnow()))
            session.commit()
        await sync.poll_once()
        sync.stop()

    asyncio.run(scenario())
    member = sync.directory.members.get("b@example.com")
    assert member is not None and member.active is False
    assert sync.cursor.holes == []


def test_a_pruned_feed_is_loaded_once(sessions: sessionmaker[Session]) -> None:
    """Only the newest entry left after pruning: one full load, then plain polls."""
    _add(sessions, "a@example.com", "b@example.com", "c@example.com")
    with sessions() as session:
        session.execute(delete(Change).where(Change.seq < 3))
        session.commit()
    log = Log()
    sync = DirectorySync(ChangeFeed(sessions), Directory(), log)

    async def scenario() -> None:
        for _ in range(4):
            await sync.poll_once()
        sync.stop()

    asyncio.run(scenario())
    assert len(log.named("directory_loaded")) == 1
    assert len(sync.directory.members) == 3
