"""CSV import of large files: read as it goes, batch by batch, still all or nothing.

Both back ends. Files of 20,000 rows span ten batches of member_upsert.BATCH, so a
fault late in the file comes after earlier batches were written inside the
transaction; nothing of them may remain.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store import database, member_upsert
from radius_server.store.csv_io import CsvRows, import_customers
from radius_server.store.customers import CustomerRepository
from radius_server.store.member_upsert import BATCH, MemberRow
from radius_server.store.models import AuditEvent, Change, Customer, DisconnectJob

ROWS = 20_000


@pytest.fixture
def sessions(clean_db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the emptied, migrated database (both back ends)."""
    engine = database.make_engine(clean_db_url)
    try:
        yield database.make_session_factory(engine)
    finally:
        engine.dispose()


def members_csv(count: int = ROWS, *, replace: dict[int, str] | None = None) -> str:
    """``count`` rows (member N on line N + 2), every tenth without a PIN; some lines replaced."""
    lines = ["email,name,pin"]
    for i in range(count):
        pin = "" if i % 10 == 9 else f"{i:05d}"
        lines.append(f"m{i}@example.com,Member {i},{pin}")
    for line, text in (replace or {}).items():
        lines[line - 1] = text
    return "\n".join(lines) + "\n"


def writes(sessions: sessionmaker[Session]) -> tuple[int, int, int, int]:
    """Members, change-feed rows, audit rows, disconnect jobs."""
    with sessions() as session:
        return (
            session.scalar(select(func.count(Customer.id))) or 0,
            session.scalar(select(func.count(Change.seq))) or 0,
            session.scalar(select(func.count(AuditEvent.id))) or 0,
            session.scalar(select(func.count(DisconnectJob.id))) or 0,
        )


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        # Found while parsing, before any batch is checked.
        ("m15000@example.com,Member,1234", "PIN is not exactly 5 digits"),
        # Found only against the database, after seven batches were written.
        ("m15000@example.com,Member,99999", "PIN taken by held@example.com"),
    ],
    ids=["bad-cell", "pin-held"],
)
def test_a_bad_row_late_in_a_large_file_writes_nothing(
    sessions: sessionmaker[Session], bad: str, reason: str
) -> None:
    """Row 15,000 of 20,000 bad: its line and reason reported, nothing of the rest written."""
    CustomerRepository(sessions, actor="test").add("held@example.com", "Held", pin="99999")
    before = writes(sessions)
    line = 15_000 + 2
    text = members_csv(replace={line: bad})
    report = import_customers(sessions, io.StringIO(text), actor="test", itemized=False)
    assert not report.ok and not report.written
    assert [(e.line, e.email, e.reason) for e in report.errors] == [
        (line, "m15000@example.com", reason)
    ]
    assert report.rows == ROWS
    assert writes(sessions) == before
    for row in report.errors:
        assert "99999" not in row.reason


def test_duplicates_across_batches_are_caught(sessions: sessionmaker[Session]) -> None:
    """An email and a PIN repeated thousands of lines (several batches) later: both named."""
    text = members_csv(
        replace={
            9_000: "M3@Example.com,Again,",  # m3 is on line 5
            12_001: "other@example.com,Other,00010",  # m10's PIN, line 12
        }
    )
    report = import_customers(sessions, io.StringIO(text), actor="test", itemized=False)
    assert not report.written
    assert [(e.line, e.reason) for e in report.errors] == [
        (9_000, "duplicate email in the file (first on line 5)"),
        (12_001, "PIN also given on line 12"),
    ]
    assert writes(sessions) == (0, 0, 0, 0)


def test_a_large_import_then_the_same_file_again_writes_nothing_the_second_time(
    sessions: sessionmaker[Session],
) -> None:
    """One feed row per member and one audit row; the re-import: no feed, no audit, no job."""
    text = members_csv()
    first = import_customers(sessions, io.StringIO(text), actor="test", itemized=False)
    assert first.ok and first.written
    assert (first.count("created"), first.created) == (ROWS, [])  # counted, not listed
    assert writes(sessions) == (ROWS, ROWS, 1, 0)
    with sessions() as session:
        pins = list(session.scalars(select(Customer.pin)))
        feed = set(session.scalars(select(Change.entity_id)))
        ids = set(session.scalars(select(Customer.id)))
    assert len(set(pins)) == ROWS  # the 2,000 drawn PINs avoid every given one
    assert feed == ids
    again = import_customers(sessions, io.StringIO(text), actor="test", itemized=False)
    assert again.ok and not again.written
    assert (again.count("unchanged"), again.count("created"), again.count("updated")) == (
        ROWS,
        0,
        0,
    )
    assert writes(sessions) == (ROWS, ROWS, 1, 0)


def test_an_update_of_some_members_writes_only_theirs(sessions: sessionmaker[Session]) -> None:
    """Every 100th member disabled: 200 updates, 200 feed rows, 200 disconnect jobs."""
    import_customers(sessions, io.StringIO(members_csv()), actor="test", itemized=False)
    lines = members_csv().splitlines()
    lines[0] += ",active"
    lines[1:] = [f"{row},{'no' if n % 100 == 0 else 'yes'}" for n, row in enumerate(lines[1:])]
    report = import_customers(sessions, io.StringIO("\n".join(lines)), actor="test")
    assert report.written and report.count("updated") == 200
    assert report.changes["m100@example.com"] == ["active"]
    assert writes(sessions) == (ROWS, ROWS + 200, 2, 200)
    with sessions() as session:
        disabled = session.scalar(select(func.count(Customer.id)).where(Customer.active.is_(False)))
    assert disabled == 200


def test_the_file_is_read_row_by_row_and_written_batch_by_batch(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Structure, not memory numbers: an iterator over the file, batches of BATCH rows.

    The first batch is checked (and written) before the file is read past it, so
    what is held at once is a batch, not the file.
    """
    text = members_csv(5 * BATCH)
    source = CsvRows(io.StringIO(text))
    rows = iter(source)
    assert isinstance(rows, Iterator) and not isinstance(rows, list | tuple)
    assert isinstance(next(rows), MemberRow)

    read = 0
    seen: list[tuple[int, int]] = []  # (rows in the batch, rows read from the file so far)

    class Counting:
        def __iter__(self) -> Iterator[MemberRow]:
            nonlocal read
            read = 0
            for row in CsvRows(io.StringIO(text)):
                read += 1
                yield row

    real_check = member_upsert._Attempt.check

    def check(self: member_upsert._Attempt, batch: list[MemberRow]) -> None:
        seen.append((len(batch), read))
        real_check(self, batch)

    monkeypatch.setattr(member_upsert._Attempt, "check", check)
    report = member_upsert.upsert_members(
        sessions, Counting(), actor="test", action="customer.import", itemized=False
    )
    assert report.written and report.count("created") == 5 * BATCH
    assert seen == [(BATCH, BATCH * n) for n in range(1, 6)]
