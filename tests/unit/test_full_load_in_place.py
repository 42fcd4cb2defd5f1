"""A full load brings the live view in line with the database member by member.

Pages are read and applied in the sync's worker thread; unchanged members keep
their objects, changed ones are replaced, missing ones removed, and
emails moving between members end up with their new owners
(docs/architecture.md, "A million members").
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from radius_server.rules.directory import Directory
from radius_server.runtime.sync import DirectorySync
from radius_server.store.feed import MEMBER_PAGE, SnapshotHead

CHANGED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _row(number: int, email: str | None = None, pin: str | None = None) -> tuple[Any, ...]:
    return (
        number,
        email or f"m{number}@example.com",
        pin or f"{number % 100_000:05d}",
        True,
        True,
        None,
        None,
        CHANGED_AT,
        None,
        None,
        None,
    )


class FakeFeed:
    """``head`` and ``member_page`` over a list of rows; ``fail_after`` pages, then an error."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.fail_after: int | None = None
        self.pages = 0

    def head(self) -> SnapshotHead:
        return SnapshotHead(7, (7,), [], [], [])

    def member_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        self.pages += 1
        if self.fail_after is not None and self.pages > self.fail_after:
            raise ConnectionError("database went away")
        return [r for r in sorted(self.rows) if r[0] > after][:limit]


class Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattr__(self, _level: str):  # type: ignore[no-untyped-def]
        return lambda event, **_fields: self.events.append(event)


def _reload(sync: DirectorySync) -> None:
    sync.cursor.needs_full_reload = True
    asyncio.run(sync.poll_once())


def test_a_reload_keeps_unchanged_objects_and_applies_every_difference() -> None:
    """Several pages; removed, changed, swapped and taken-over emails all end up right."""
    count = 2 * MEMBER_PAGE + 5
    feed = FakeFeed([_row(n) for n in range(1, count + 1)])
    sync = DirectorySync(feed, Directory(), Log())  # type: ignore[arg-type]
    asyncio.run(sync.poll_once())
    members = sync.directory.members
    assert len(members) == count and sync.directory.ready
    unchanged = members.by_id(MEMBER_PAGE + 1)
    rows = {r[0]: r for r in feed.rows}
    del rows[3]  # removed; member 4000 takes over its email below
    rows[4000] = _row(4000, email="m3@example.com")
    rows[10] = _row(10, email="m11@example.com")  # 10 and 11 trade emails
    rows[11] = _row(11, email="m10@example.com")
    rows[20] = _row(20, pin="24680")
    rows[count + 1] = _row(count + 1)  # new, on a page of its own
    feed.rows = list(rows.values())
    _reload(sync)
    assert len(members) == count  # one removed, one added
    assert members.by_id(MEMBER_PAGE + 1) is unchanged
    assert members.by_id(3) is None
    assert members.get("m3@example.com").id == 4000  # type: ignore[union-attr]
    assert members.get("m4000@example.com") is None
    assert members.get("m10@example.com").id == 11  # type: ignore[union-attr]
    assert members.get("m11@example.com").id == 10  # type: ignore[union-attr]
    assert members.get("m20@example.com").pin == b"24680"  # type: ignore[union-attr]
    assert members.get(f"m{count + 1}@example.com") is not None
    by_email = {m.email: m.id for m in members.all()}
    assert len(by_email) == len(members)
    for email, member_id in by_email.items():
        assert members.get(email).id == member_id  # type: ignore[union-attr]


def test_a_reload_failing_half_way_keeps_serving_and_completes_later() -> None:
    """The database goes away after the first page: nobody is lost, the next round finishes."""
    count = 2 * MEMBER_PAGE + 5
    feed = FakeFeed([_row(n) for n in range(1, count + 1)])
    log = Log()
    sync = DirectorySync(feed, Directory(), log)  # type: ignore[arg-type]
    asyncio.run(sync.poll_once())
    feed.rows = [_row(n, pin="13579") for n in range(2, count + 1)]  # 1 removed, PINs changed
    feed.pages, feed.fail_after = 0, 1
    _reload(sync)
    members = sync.directory.members
    assert sync.directory.degraded and sync.cursor.needs_full_reload
    assert len(members) == count and members.by_id(1) is not None  # nothing removed yet
    assert members.get("m2@example.com").pin == b"13579"  # type: ignore[union-attr]
    assert members.get(f"m{count}@example.com").pin != b"13579"  # type: ignore[union-attr]
    feed.fail_after = None
    asyncio.run(sync.poll_once())
    assert not sync.directory.degraded
    assert len(members) == count - 1 and members.by_id(1) is None
    assert all(m.pin == b"13579" for m in members.all())
    assert log.events.count("directory_loaded") == 2
