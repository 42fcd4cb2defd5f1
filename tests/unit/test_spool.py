"""runtime/spool.py: append, torn tails, adoption from dead processes, the bound, replay order."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from radius_server.rules.accounting import AccountingRecord, StatusType
from radius_server.runtime import spool as spool_module
from radius_server.runtime.spool import REJECTED_FILE, Spool, SpoolError, decode_line, encode_line


def make_record(n: int, status: StatusType = StatusType.INTERIM_UPDATE) -> AccountingRecord:
    """A record whose session id carries ``n`` (to check order and completeness)."""
    return AccountingRecord(
        status=status,
        unique_key=f"{n:032x}",
        client_name="ap1",
        nas_address="192.0.2.1",
        acct_session_id=f"s-{n}",
        user_name="ada@example.org",
        event_time=1_800_000_000.0 + n,
        received_at=1_800_000_000.0 + n,
        input_octets=n * 10,
        output_octets=n * 20,
        session_time=n,
    )


def ids(records: list[AccountingRecord]) -> list[int]:
    return [int(r.acct_session_id[2:]) for r in records]


def drain(spool: Spool, limit: int = 1000) -> list[AccountingRecord]:
    """Replay everything, as the writer does after each successful commit."""
    out: list[AccountingRecord] = []
    while (chunk := spool.read(limit)) is not None:
        out += chunk.records
        spool.consume(chunk)
    return out


def segment_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.startswith("acct-"))


def test_lines_round_trip_and_garbage_is_not_a_record() -> None:
    record = make_record(3, StatusType.STOP)
    line = encode_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_line(line[:-1]) == record
    for junk in (b"", b"{", b"[]", b'{"status": 99}', b'{"status": 1}', line[:-9]):
        assert decode_line(junk) is None


def test_append_then_replay_in_order_and_files_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, max_records=1000)
    assert spool.open() == []
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    spool.append([make_record(n) for n in range(5)])
    spool.append([make_record(n) for n in range(5, 8)])
    assert spool.records == 8 and spool.room() == 992
    (name,) = segment_files(directory)
    assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    chunk = spool.read(3)
    assert chunk is not None and ids(chunk.records) == [0, 1, 2]
    # Nothing is forgotten before consume (the database write may fail).
    again = spool.read(3)
    assert again is not None and ids(again.records) == [0, 1, 2]
    spool.consume(chunk)
    assert spool.records == 5
    assert ids(drain(spool)) == [3, 4, 5, 6, 7]
    assert spool.records == 0
    # A replayed segment is deleted; the next append starts a new one.
    assert segment_files(directory) == []
    spool.append([make_record(9)])
    assert ids(drain(spool)) == [9]
    spool.close()
    assert os.listdir(directory) == []


def test_appends_during_replay_are_kept_behind(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_records=1000)
    spool.open()
    spool.append([make_record(n) for n in range(3)])
    chunk = spool.read(10)
    assert chunk is not None
    spool.append([make_record(3)])  # arrives while the chunk is being written
    spool.consume(chunk)
    assert spool.records == 1
    assert ids(drain(spool)) == [3]


def test_segments_rotate_and_replay_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_RECORDS", 4)
    spool = Spool(tmp_path, max_records=1000)
    spool.open()
    for n in range(10):
        spool.append([make_record(n)])
    assert len(segment_files(tmp_path)) == 3
    assert ids(drain(spool, limit=3)) == list(range(10))
    assert segment_files(tmp_path) == []


def test_a_torn_last_line_is_ignored_after_a_crash(tmp_path: Path) -> None:
    dead = Spool(tmp_path, max_records=1000)
    dead.open()
    dead.append([make_record(n) for n in range(3)])
    (name,) = segment_files(tmp_path)
    # The crash cut the next write short: half a line, no newline.
    with open(tmp_path / name, "ab") as handle:
        handle.write(encode_line(make_record(99))[:40])
    dead.close()  # the process is gone: its lock with it

    heir = Spool(tmp_path, max_records=1000)
    adopted = heir.open()
    assert [(a.name, a.records) for a in adopted] == [(name, 3)]
    assert ids(drain(heir)) == [0, 1, 2]
    assert segment_files(tmp_path) == []


def test_a_damaged_line_in_the_middle_is_skipped_and_reported(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_records=1000)
    spool.open()
    spool.append([make_record(0)])
    (name,) = segment_files(tmp_path)
    spool.close()
    with open(tmp_path / name, "ab") as handle:
        handle.write(b"not json\n" + encode_line(make_record(1)))
    heir = Spool(tmp_path, max_records=1000)
    heir.open()
    assert heir.records == 3
    chunk = heir.read(10)
    assert chunk is not None and ids(chunk.records) == [0, 1] and chunk.unreadable == 1
    heir.consume(chunk)
    assert heir.records == 0


def test_a_live_owners_segments_are_not_adopted(tmp_path: Path) -> None:
    alive = Spool(tmp_path, max_records=1000)
    alive.open()
    alive.append([make_record(1)])
    other = Spool(tmp_path, max_records=1000)
    assert other.open() == []
    assert other.adopt() == []
    assert other.records == 0
    alive.close()
    # Gone now: the next look takes it over.
    assert [a.records for a in other.adopt()] == [1]
    assert ids(drain(other)) == [1]


def test_adoption_keeps_each_owners_order_and_goes_before_our_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_RECORDS", 2)
    first = Spool(tmp_path, max_records=1000)
    first.open()
    for n in range(5):  # segments 1..3 of one owner
        first.append([make_record(n)])
    first.close()
    heir = Spool(tmp_path, max_records=1000)
    heir.open()
    heir.append([make_record(100)])
    assert ids(drain(heir)) == [0, 1, 2, 3, 4, 100]


def test_a_process_killed_with_sigkill_leaves_its_records_to_the_next(tmp_path: Path) -> None:
    """The lock goes with the process, whatever kills it; what was appended survives."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.unit.test_spool import make_record
        from radius_server.runtime.spool import Spool
        spool = Spool(Path({str(tmp_path)!r}), max_records=1000)
        spool.open()
        for n in range(20):
            spool.append([make_record(n)])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert result.returncode == -9
    heir = Spool(tmp_path, max_records=1000)
    assert sum(a.records for a in heir.open()) == 20
    assert ids(drain(heir, limit=7)) == list(range(20))


def test_a_crash_mid_replay_replays_the_segment_again(tmp_path: Path) -> None:
    """Consumed records are only forgotten with their whole segment: after a crash
    the rest is replayed again (duplicates, harmless), never lost."""
    spool = Spool(tmp_path, max_records=1000)
    spool.open()
    spool.append([make_record(n) for n in range(6)])
    chunk = spool.read(4)
    assert chunk is not None
    spool.consume(chunk)  # committed ...
    spool.close()  # ... then the process died
    heir = Spool(tmp_path, max_records=1000)
    heir.open()
    assert ids(drain(heir)) == list(range(6))


def test_half_created_segments_are_cleaned_up(tmp_path: Path) -> None:
    leftover = tmp_path / ".new-acct-1-dead-000001.jsonl"
    leftover.touch()
    spool = Spool(tmp_path, max_records=1000)
    assert spool.open() == []
    assert not leftover.exists()


def test_a_locked_half_created_segment_is_left_alone(tmp_path: Path) -> None:
    creating = tmp_path / ".new-acct-1-busy-000001.jsonl"
    fd = os.open(creating, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        Spool(tmp_path, max_records=1000).open()
        assert creating.exists()
    finally:
        os.close(fd)


def test_room_counts_adopted_records(tmp_path: Path) -> None:
    dead = Spool(tmp_path, max_records=1000)
    dead.open()
    dead.append([make_record(n) for n in range(150)])
    dead.close()
    small = Spool(tmp_path, max_records=100)
    small.open()
    assert small.records == 150 and small.room() == 0


def test_a_failed_append_keeps_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, max_records=1000)
    spool.open()
    spool.append([make_record(0)])

    def failing_sync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool_module.os, "fdatasync", failing_sync)
    with pytest.raises(OSError):
        spool.append([make_record(1), make_record(2)])
    monkeypatch.undo()
    assert spool.records == 1
    spool.append([make_record(3)])
    spool.close()
    # What a later process finds: the records that were flushed, no half batch.
    heir = Spool(tmp_path, max_records=1000)
    heir.open()
    assert ids(drain(heir)) == [0, 3]


def test_rejected_records_are_kept_for_the_operator(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_records=1000)
    spool.open()
    path = spool.reject([make_record(1), make_record(2)])
    assert path == tmp_path / REJECTED_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_bytes().splitlines()
    assert [decode_line(line) for line in lines] == [make_record(1), make_record(2)]
    # Not a segment: never adopted or replayed.
    assert Spool(tmp_path, max_records=1000).open() == []


def test_an_unusable_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpoolError, match="accounting spool"):
        Spool(blocker / "spool", max_records=1000).open()
