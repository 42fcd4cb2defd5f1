"""CSV import (upsert by email, all-or-nothing) and export; CLI and csv_io, both back ends."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.rules.pin_pool import PinPool
from radius_server.store import database
from radius_server.store.csv_io import export_text, import_customers
from radius_server.store.customers import CustomerChanges, CustomerRepository
from radius_server.store.errors import InvalidValue
from radius_server.store.models import AuditEvent, Change
from radius_server.store.records import CustomerRecord
from tests.conftest import Cli, CliResult

# Failures found before any database access do not depend on the back end.
SQLITE_ONLY = pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)


@dataclass
class Store:
    """Direct access to the database the ``cli`` fixture uses."""

    sessions: sessionmaker[Session]
    repo: CustomerRepository

    def snapshot(self) -> list[dict[str, object]]:
        """Every customer's content (PIN included), ignoring ids and write times."""
        return [_content(r) for r in self.repo.find()]

    def writes(self) -> tuple[int, int]:
        """Number of change-feed rows and audit rows."""
        with self.sessions() as session:
            return (
                session.scalar(select(func.count(Change.seq))) or 0,
                session.scalar(select(func.count(AuditEvent.id))) or 0,
            )


def _content(record: CustomerRecord) -> dict[str, object]:
    data = record.to_dict(include_pin=True)
    for key in ("id", "created_at", "updated_at", "pin_changed_at"):
        data.pop(key)
    return data


@pytest.fixture
def store(clean_db_url: str) -> Iterator[Store]:
    """Repository and sessions on the migrated database (both back ends)."""
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    try:
        yield Store(sessions, CustomerRepository(sessions, actor="test:seed"))
    finally:
        engine.dispose()


@pytest.fixture
def cli(clean_cli: Cli) -> Cli:
    """The real console script (both back ends) on this module's emptied database."""
    return clean_cli


def write_csv(tmp_path: Path, text: str, name: str = "members.csv", *, bom: bool = False) -> str:
    """Write a CSV file (optionally with the BOM spreadsheets add) and return its path."""
    path = tmp_path / name
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return str(path)


def seed(store: Store) -> tuple[CustomerRecord, CustomerRecord]:
    """Two existing customers: ana (PIN 40517) and bob (PIN 59326)."""
    return (
        store.repo.add("ana@example.com", "Ana", pin="40517"),
        store.repo.add("bob@example.com", "Bob", pin="59326"),
    )


# ------------------------------------------------------------------ good files, via the CLI


def test_import_creates_and_updates(cli: Cli, store: Store, tmp_path: Path) -> None:
    """Upsert by email: existing rows updated, new ones created, PIN column optional."""
    ana, bob = seed(store)
    path = write_csv(
        tmp_path,
        "Email,Name,PIN,Active,WiFi,valid_until\n"
        "ANA@example.com,Ana Lima,,yes,no,2031-06-30\n"  # update; empty PIN keeps hers
        "bob@example.com,Bob,59326,yes,yes,\n"  # unchanged
        "cai@example.com,Cai,61842,no,yes,\n"  # new, PIN given
        "dee@example.com,Dee,,yes,yes,\n",  # new, PIN drawn
        bom=True,
    )
    result = cli("customer", "import", path)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert "created 2, updated 1, unchanged 1, bad rows 0" in result.out
    updated = store.repo.get("ana@example.com")
    assert updated.full_name == "Ana Lima"
    assert updated.wifi_access is False
    assert updated.valid_until == datetime(2031, 7, 1, tzinfo=UTC)  # through June 30th, UTC
    assert updated.pin == ana.pin
    assert store.repo.get("bob@example.com") == bob
    cai = store.repo.get("cai@example.com")
    assert cai.pin == "61842" and cai.active is False
    dee = store.repo.get("dee@example.com")
    assert pins.is_valid_format(dee.pin) and not pins.is_trivial(dee.pin)
    assert dee.pin not in {ana.pin, bob.pin, cai.pin}
    # Importing the same file again changes nothing.
    again = cli("--json", "customer", "import", path)
    assert again.code == 0, again.err
    report = json.loads(again.out)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 4)
    assert report["ok"] is True and report["errors"] == []


def test_import_changes_pin_and_reads_stdin(cli: Cli, store: Store) -> None:
    """A PIN in the file replaces the customer's PIN; '-' reads standard input."""
    ana, _bob = seed(store)
    result = cli("customer", "import", "-", stdin="email,pin\nana@example.com,70263\n")
    assert result.code == 0, result.err
    assert "updated 1" in result.out
    changed = store.repo.get("ana@example.com")
    assert changed.pin == "70263"
    assert changed.pin_changed_at is not None and ana.pin_changed_at is not None
    assert changed.pin_changed_at > ana.pin_changed_at


def test_dry_run_reports_and_writes_nothing(cli: Cli, store: Store, tmp_path: Path) -> None:
    """--dry-run says what would happen and leaves the database untouched."""
    seed(store)
    before, writes = store.snapshot(), store.writes()
    path = write_csv(tmp_path, "email,name\nana@example.com,Ana Lima\nnew@example.com,New\n")
    result = cli("customer", "import", path, "--dry-run")
    assert result.code == 0, result.err
    assert "would create 1, would update 1, unchanged 0, bad rows 0" in result.out
    assert store.snapshot() == before
    assert store.writes() == writes
    report = json.loads(cli("--json", "customer", "import", path, "--dry-run").out)
    assert report["dry_run"] is True and report["written"] is False
    assert (report["created"], report["updated"]) == (1, 1)
    assert store.snapshot() == before


@SQLITE_ONLY
def test_a_header_only_file_says_it_found_no_rows(cli: Cli, store: Store, tmp_path: Path) -> None:
    """Not "created 0, updated 0...": no rows found, exit 0, nothing written or audited."""
    seed(store)
    before, writes = store.snapshot(), store.writes()
    path = write_csv(tmp_path, "email,name,pin\n\n")
    result = cli("customer", "import", path)
    assert result.code == 0, result.err
    assert f"no rows found in {path}" in result.out
    assert "created" not in result.out
    report = json.loads(ok_out(cli("customer", "import", path, "--json")))
    assert report["rows"] == 0 and report["written"] is False
    assert store.snapshot() == before
    assert store.writes() == writes


def ok_out(result: CliResult) -> str:
    """stdout of a clean success."""
    assert result.code == 0 and "Traceback" not in result.err, result.err
    return result.out


# ------------------------------------------------------------------ bad files, via the CLI


def test_one_bad_row_writes_nothing_and_names_the_line(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    """The "done when" import: one bad row among good ones, nothing written, row named."""
    seed(store)
    before, writes = store.snapshot(), store.writes()
    path = write_csv(
        tmp_path,
        "email,name,pin\n"
        "new1@example.com,New One,\n"
        "ana@example.com,Ana Renamed,\n"
        "new2@example.com,New Two,1234\n"
        "new3@example.com,New Three,\n",
    )
    result = cli("customer", "import", path)
    assert result.code != 0
    assert "Traceback" not in result.err
    assert "line 4 (new2@example.com): PIN is not exactly 5 digits" in result.err
    assert "nothing was written" in result.err
    assert "bad rows 1" in result.out
    assert "line 2" not in result.err and "line 3" not in result.err
    assert store.snapshot() == before
    assert store.writes() == writes


def test_every_bad_row_is_reported(cli: Cli, store: Store, tmp_path: Path) -> None:
    """A file with many kinds of bad rows names each line and reason; nothing is written."""
    seed(store)
    before, writes = store.snapshot(), store.writes()
    path = write_csv(
        tmp_path,
        "email,name,pin,active\n"
        "good@example.com,Good,,yes\n"  # 2 fine
        "not-an-email,Bad,,yes\n"  # 3 bad email
        "GOOD@example.com,Again,,yes\n"  # 4 duplicate email
        "cai@example.com,Cai,59326,yes\n"  # 5 PIN taken by bob
        "dee@example.com,Dee,123456,yes\n"  # 6 PIN too long
        "eve@example.com,Eve,70263,yes\n"  # 7 fine
        "fay@example.com,Fay,70263,yes\n"  # 8 same PIN as line 7
        "gus@example.com,Gus,,maybe\n"  # 9 bad yes/no
        "hal@example.com,Hal\n",  # 10 wrong number of fields
    )
    result = cli("--json", "customer", "import", path)
    assert result.code != 0
    assert "Traceback" not in result.err
    report = json.loads(result.out)
    assert report["ok"] is False and report["written"] is False
    errors = {e["line"]: e for e in report["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 8, 9, 10]
    assert "not a valid email" in errors[3]["reason"]
    assert "duplicate email" in errors[4]["reason"] and "line 2" in errors[4]["reason"]
    assert errors[5]["reason"] == "PIN taken by bob@example.com"
    assert errors[5]["email"] == "cai@example.com"
    assert "5 digits" in errors[6]["reason"]
    assert "line 7" in errors[8]["reason"]
    assert "yes/no" in errors[9]["reason"]
    assert "fields" in errors[10]["reason"]
    assert store.snapshot() == before
    assert store.writes() == writes


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("email,name,colour\nana@example.com,Ana,red\n", "colour"),
        ("", "empty"),
        ("name,pin\nAna,40517\n", "email"),
    ],
    ids=["unknown-column", "empty-file", "no-email-column"],
)
@SQLITE_ONLY
def test_bad_header_fails_cleanly(
    cli: Cli, store: Store, tmp_path: Path, text: str, needle: str
) -> None:
    """Unknown columns, an empty file and a missing email column: one line, nothing written."""
    result = cli("customer", "import", write_csv(tmp_path, text))
    assert result.code != 0
    assert "Traceback" not in result.err
    assert needle in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert store.repo.count() == 0


@SQLITE_ONLY
def test_missing_file_fails_cleanly(cli: Cli, tmp_path: Path) -> None:
    """A file that cannot be read is a one-line error."""
    result = cli("customer", "import", str(tmp_path / "nope.csv"))
    assert result.code != 0
    assert "Traceback" not in result.err and "nope.csv" in result.err


# ------------------------------------------------------------------ export


def test_export_import_round_trip(cli: Cli, store: Store, tmp_path: Path) -> None:
    """Exported customers re-imported into an emptied directory come back identical."""
    seed(store)
    store.repo.add(
        "cai@example.com",
        'Cai, Jr. "CJ"',
        active=False,
        wifi_access=False,
        valid_from=datetime(2030, 1, 1, 9, 30, tzinfo=UTC),
        valid_until=datetime(2030, 12, 31, tzinfo=UTC),
    )
    original = store.snapshot()
    target = tmp_path / "export.csv"
    result = cli("customer", "export", str(target))
    assert result.code == 0, result.err
    assert "exported 3 customer(s)" in result.err
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "email,name,pin,active,wifi_access,valid_from,valid_until,plan"
    # Re-importing over the same data is a no-op ...
    same = cli("customer", "import", str(target))
    assert same.code == 0 and "unchanged 3" in same.out
    # ... and into an emptied directory restores everything, PINs included.
    for record in store.repo.find():
        store.repo.remove(record.email)
    back = cli("customer", "import", str(target))
    assert back.code == 0, back.err
    assert "created 3" in back.out
    assert store.snapshot() == original


def test_export_to_stdout_without_pin(cli: Cli, store: Store) -> None:
    """--without-pin leaves the PIN column out; importing that file keeps PINs."""
    ana, bob = seed(store)
    result = cli("customer", "export", "--without-pin")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "email,name,active,wifi_access,valid_from,valid_until,plan"
    assert lines[1].startswith("ana@example.com,Ana,yes,yes")
    assert ana.pin not in result.out and bob.pin not in result.out
    back = cli("customer", "import", "-", stdin=result.out)
    assert back.code == 0 and "unchanged 2" in back.out
    assert store.repo.get("ana@example.com").pin == ana.pin


# ------------------------------------------------------------------ csv_io directly


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        ("ana@example,Ana,,yes\n", 2, "not a valid email"),
        ("new@example.com,A,,yes\nNEW@example.com,B,,yes\n", 3, "duplicate email"),
        ("new@example.com,New,59326,yes\n", 2, "PIN taken by bob@example.com"),
        ("new@example.com,New,4051,yes\n", 2, "PIN is not exactly 5 digits"),
        ("new@example.com,New,4O517,yes\n", 2, "PIN is not exactly 5 digits"),
        ("n1@example.com,A,70263,yes\nn2@example.com,B,70263,yes\n", 3, "PIN also given on line 3"),
        ("new@example.com,New,,perhaps\n", 2, "is not yes/no"),
        ("ana@example.com,Ana,59326,yes\n", 2, "PIN taken by bob@example.com"),
    ],
    ids=[
        "bad-email",
        "dup-email",
        "pin-taken",
        "pin-short",
        "pin-letter",
        "same-pin-twice",
        "bad-yes-no",
        "update-to-taken-pin",
    ],
)
def test_single_bad_row_is_named(store: Store, rows: str, line: int, reason: str) -> None:
    """Each kind of bad row is reported with its line and reason; nothing is written."""
    seed(store)
    before, writes = store.snapshot(), store.writes()
    text = "email,name,pin,active\nok@example.com,Fine,,yes\n"
    # The good row is line 2; shift expected lines by one.
    report = import_customers(store.sessions, io.StringIO(text + rows), actor="test")
    assert not report.ok and not report.written
    assert [(e.line, reason in e.reason) for e in report.errors] == [(line + 1, True)]
    assert store.snapshot() == before
    assert store.writes() == writes


@pytest.mark.parametrize("text", ["", "email,shoe_size\nana@example.com,42\n"])
def test_bad_header_raises(store: Store, text: str) -> None:
    """An empty file or an unknown column raises InvalidValue before anything is read."""
    with pytest.raises(InvalidValue):
        import_customers(store.sessions, io.StringIO(text), actor="test")
    assert store.repo.count() == 0


def test_import_writes_feed_and_audit_without_pins(store: Store) -> None:
    """A successful import appends one change per customer and one audit row, no PIN."""
    ana, _bob = seed(store)
    writes = store.writes()
    report = import_customers(
        store.sessions,
        io.StringIO("email,pin\nana@example.com,70263\nnew@example.com,81524\n"),
        actor="test:import",
    )
    assert report.ok and report.written
    assert (report.created, report.updated) == (["new@example.com"], ["ana@example.com"])
    assert store.writes() == (writes[0] + 2, writes[1] + 1)
    with store.sessions() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None and event.action == "customer.import"
    assert event.actor == "test:import"
    for pin in ("70263", "81524", ana.pin):
        assert pin not in event.details


def test_dates_with_offsets_are_stored_as_the_same_instant(store: Store) -> None:
    """valid_from given with a +02:00 offset is kept as that instant on both back ends."""
    report = import_customers(
        store.sessions,
        io.StringIO("email,valid_from\nana@example.com,2030-01-01T10:00:00+02:00\n"),
        actor="test",
    )
    assert report.written
    assert store.repo.get("ana@example.com").valid_from == datetime(2030, 1, 1, 8, tzinfo=UTC)
    exported = export_text(store.sessions).splitlines()[1].split(",")
    assert datetime.fromisoformat(exported[5]) == datetime(2030, 1, 1, 8, tzinfo=UTC)


def test_export_text_matches_repository(store: Store) -> None:
    """export_text lists every customer once, sorted by email, PIN optional."""
    ana, bob = seed(store)
    store.repo.update("bob@example.com", CustomerChanges(active=False))
    full = export_text(store.sessions).splitlines()
    # The last column, plan, is empty: the default plan.
    assert full[1:] == [
        "ana@example.com,Ana,40517,yes,yes,,,",
        "bob@example.com,Bob,59326,no,yes,,,",
    ]
    bare = export_text(store.sessions, include_pin=False)
    assert ana.pin not in bare and bob.pin not in bare


# ------------------------------------------------------------------ hostile and racing input


def test_nul_long_and_control_fields_name_their_lines(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    """NUL, an over-long name, terminal escapes: each line named, escaped, nothing written."""
    seed(store)
    before, writes = store.snapshot(), store.writes()
    path = write_csv(
        tmp_path,
        "email,name\n"
        "nul@example.com,Nu\x00l\n"
        f"long@example.com,{'x' * 201}\n"
        "\x1b]0;owned\x07@example.com,Eve\n"
        "bell@example.com,Bell\x07\x1b[2J\n"
        "fine@example.com,Fine\n",
    )
    result = cli("customer", "import", path)
    assert result.code == 1 and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert lines[0].startswith("line 2 (nul@example.com): the name contains a control character")
    assert lines[1].startswith("line 3 (long@example.com): the name is longer than 200")
    assert lines[2].startswith("line 4 (\\x1b]0;owned\\x07@example.com): not a valid email")
    assert lines[3].startswith("line 5 (bell@example.com): the name contains a control")
    assert "nothing was written" in result.err
    for char in ("\x00", "\x1b", "\x07"):
        assert char not in result.err + result.out
    assert store.snapshot() == before
    assert store.writes() == writes


def test_duplicate_and_held_pins_are_reported_without_the_pin(cli: Cli, store: Store) -> None:
    """Two rows with one new PIN, or a PIN another member holds: lines named, PIN never shown."""
    seed(store)  # bob holds 59326
    before = store.snapshot()
    result = cli(
        "customer",
        "import",
        "-",
        stdin="email,pin\nn1@example.com,70263\nn2@example.com,70263\nn3@example.com,59326\n",
    )
    assert result.code == 1 and "Traceback" not in result.err
    assert "line 3 (n2@example.com): PIN also given on line 2" in result.err
    assert "line 4 (n3@example.com): PIN taken by bob@example.com" in result.err
    assert "59326" not in result.err + result.out
    assert store.snapshot() == before


def test_drawn_pin_avoids_the_new_pins_of_updated_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PIN drawn for a new row never collides with a PIN the same file gives to ana."""
    seed(store)

    def lowest_free(used: set[str] | PinPool) -> str:
        return next(p for p in pins.drawable() if p not in used)

    def draw_lowest(pool: PinPool) -> str:
        pin = lowest_free(pool)
        pool.add(pin)
        return pin

    # The PIN the draw would pick if it only avoided the PINs in the database.
    wanted = lowest_free({"40517", "59326"})
    monkeypatch.setattr(PinPool, "draw", draw_lowest)
    text = f"email,pin\nana@example.com,{wanted}\nnew@example.com,\n"
    report = import_customers(store.sessions, io.StringIO(text), actor="test")
    assert report.ok and report.written
    assert store.repo.get("ana@example.com").pin == wanted
    assert store.repo.get("new@example.com").pin not in {wanted, "59326"}


def test_pin_taken_during_the_import_is_reported_and_nothing_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another admin takes a PIN between the check and the write: a report, not a traceback."""
    from radius_server.store import member_upsert

    seed(store)
    real_holders = member_upsert._holders
    calls = []

    def read_then_race(*args: object, **kwargs: object) -> object:
        # The import has read who holds its PINs; then eve takes one of them.
        read = real_holders(*args, **kwargs)  # type: ignore[arg-type]
        if not calls:
            store.repo.add("eve@example.com", "Eve", pin="70263")
        calls.append(1)
        return read

    monkeypatch.setattr(member_upsert, "_holders", read_then_race)
    before = store.snapshot()
    text = "email,pin\nana@example.com,81524\nnew@example.com,70263\n"
    report = import_customers(store.sessions, io.StringIO(text), actor="test")
    assert not report.ok and not report.written
    assert [(e.line, e.reason) for e in report.errors] == [(3, "PIN taken by eve@example.com")]
    assert len(calls) == 2
    after = store.snapshot()
    assert [c for c in after if c["email"] != "eve@example.com"] == before


def test_csv_dates_are_whole_days_in_the_given_zone(store: Store) -> None:
    """valid_until 2030-03-31 in Europe/Berlin (DST starts that day) ends 22:00 UTC on the 31st."""
    report = import_customers(
        store.sessions,
        io.StringIO("email,valid_from,valid_until\nana@example.com,2030-03-01,2030-03-31\n"),
        actor="test",
        zone=ZoneInfo("Europe/Berlin"),
    )
    assert report.written
    ana = store.repo.get("ana@example.com")
    assert ana.valid_from == datetime(2030, 2, 28, 23, tzinfo=UTC)
    assert ana.valid_until == datetime(2030, 3, 31, 22, tzinfo=UTC)
    # The export carries the instants, so importing it again changes nothing.
    again = import_customers(
        store.sessions, io.StringIO(export_text(store.sessions)), actor="test", dry_run=True
    )
    assert again.unchanged == ["ana@example.com"]
