"""The accounting spool: records kept on disk, flushed, while the database cannot take them.

An Accounting-Response tells the NAS it may forget the record (RFC 2866 2), so
a record the database cannot take now is appended here and flushed to disk
(``fdatasync``) before it is acknowledged; runtime/accounting.py replays the
spool into the database, oldest first, once the database answers again.

Layout: a directory (0700) of segment files (0600) named
``acct-<owner>-<seq>.jsonl``, one JSON object per line
(``AccountingRecord.as_dict``). A process owns its segments through an
exclusive ``flock`` held as long as it has them open. The kernel drops a lock
with its last descriptor, on SIGKILL too, so a segment whose lock can be taken
has no owner any more: another process (``serve --workers N``, a second
instance on the box, the next start) adopts and replays it.

Nothing acknowledged is lost, whenever the process dies:

- segments are append-only and each batch is flushed before its records are
  acknowledged; a crash in the middle of a write leaves a last line without its
  newline, never acknowledged, which readers ignore;
- a segment is deleted only after every record in it was committed to the
  database, and while its lock is still held (so nobody adopts it half-deleted);
  a crash between the commit and the delete replays the segment again, which
  the database's idempotent merge (store/sessions.py) makes harmless. Segments
  are closed after ``SEGMENT_RECORDS`` records, which bounds that repetition.

Blocking file I/O: call every method from one worker thread (the writer owns
one); ``records`` and ``room`` may be read from any thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radius_server.private_files import FILE_MODE, make_private_dir
from radius_server.rules.accounting import AccountingRecord

# Records per segment: a crash during replay repeats at most this many (harmlessly).
SEGMENT_RECORDS = 10_000
# Octets read at once while replaying (lines are well under 4 KiB).
_READ_BLOCK = 1 << 20
_PREFIX = "acct-"
_SUFFIX = ".jsonl"
# A segment being created: locked first, then renamed to its real name, so a
# scanning process never sees (and adopts) a segment its owner has not locked yet.
_CREATING = ".new-"
# Records the database refused for what they hold (not an outage): kept for the
# operator instead of being retried forever or thrown away.
REJECTED_FILE = "rejected.jsonl"


class SpoolError(OSError):
    """The spool directory cannot be used; ``str()`` names it."""


@dataclass(eq=False)
class Segment:
    """One segment file this process holds locked (its own, or adopted)."""

    path: Path
    fd: int
    size: int  # octets of complete lines (a torn last line is past it)
    offset: int = 0  # octets already replayed
    records: int = 0  # lines not replayed yet
    written: int = 0  # lines this process appended


@dataclass(frozen=True, slots=True)
class Chunk:
    """The oldest records not replayed yet, from one segment (see ``Spool.read``)."""

    segment: Segment
    records: list[AccountingRecord]
    end: int  # offset after the last line read
    lines: int  # lines read, including unreadable ones
    unreadable: int  # lines that were not a record (skipped)


@dataclass(frozen=True, slots=True)
class Adopted:
    """A segment taken over from a process that is gone."""

    name: str
    records: int


class Spool:
    """The segments of this process: appended to while the database is away, replayed after."""

    def __init__(self, directory: Path, max_records: int) -> None:
        self.directory = directory
        self.max_records = max_records
        # Unique among the processes sharing the directory, also across pid reuse.
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._segments: list[Segment] = []  # oldest first: adopted ones, then ours
        self._current: Segment | None = None  # ours, being appended to
        self._records = 0
        self._seq = 0
        self._dir_fd: int | None = None

    # -- state (any thread) ------------------------------------------------------

    @property
    def records(self) -> int:
        """Records waiting to be replayed (ours and adopted ones)."""
        return self._records

    def room(self) -> int:
        """Records that may still be appended before the spool is full."""
        return max(0, self.max_records - self._records)

    def segment_names(self) -> list[str]:
        """The files held now, oldest first (tests, diagnostics)."""
        return [s.path.name for s in self._segments]

    # -- life cycle --------------------------------------------------------------

    def open(self) -> list[Adopted]:
        """Create the directory (0700) if needed and adopt what dead processes left."""
        try:
            make_private_dir(self.directory)
            self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise SpoolError(
                exc.errno, f"cannot use the accounting spool {self.directory}: {exc.strerror}"
            ) from None
        return self.adopt()

    def close(self) -> None:
        """Release every segment (what is left is adopted by the next process to look)."""
        for segment in list(self._segments):
            if segment.records == 0:
                self._remove(segment)
            else:
                os.close(segment.fd)
        self._segments.clear()
        self._current = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    # -- appending ---------------------------------------------------------------

    def append(self, records: Sequence[AccountingRecord]) -> None:
        """Append ``records`` and flush them to disk; OSError if that failed (none kept).

        The caller checks ``room()`` first: the bound is the caller's decision
        (it answers the NAS), the spool only counts.
        """
        if not records:
            return
        segment = self._current
        if segment is None or segment.written >= SEGMENT_RECORDS:
            segment = self._new_segment()
        data = b"".join(encode_line(record) for record in records)
        try:
            _write_all(segment.fd, data, segment.size)
            os.fdatasync(segment.fd)
        except OSError:
            self._cut(segment)
            raise
        segment.size += len(data)
        segment.records += len(records)
        segment.written += len(records)
        self._records += len(records)

    def _new_segment(self) -> Segment:
        assert self._dir_fd is not None, "open() the spool first"
        while True:
            self._seq += 1
            name = f"{_PREFIX}{self.owner}-{self._seq:06d}{_SUFFIX}"
            creating = self.directory / (_CREATING + name)
            fd = os.open(creating, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Another process's clean-up took it between create and lock: it deletes
                # it; take the next name.
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            break
        path = self.directory / name
        try:
            os.rename(creating, path)
            # The new name must survive a power cut with the records written under it.
            os.fsync(self._dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(creating)
            os.close(fd)
            raise
        segment = Segment(path, fd, size=0)
        self._segments.append(segment)
        self._current = segment
        return segment

    def _cut(self, segment: Segment) -> None:
        """After a failed append: drop its partial octets, or stop appending to the segment."""
        try:
            os.ftruncate(segment.fd, segment.size)
        except OSError:
            # Whatever the failed write left stays past ``size``: never read by us,
            # and after a crash at most unacknowledged lines a reader skips or replays.
            if self._current is segment:
                self._current = None

    def reject(self, records: Sequence[AccountingRecord]) -> Path:
        """Keep records the database refused in ``rejected.jsonl`` (flushed); return its path."""
        path = self.directory / REJECTED_FILE
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            # One write: O_APPEND keeps lines of several processes whole.
            data = b"".join(encode_line(record) for record in records)
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {path}")
            os.fdatasync(fd)
        finally:
            os.close(fd)
        return path

    # -- adopting ----------------------------------------------------------------

    def adopt(self) -> list[Adopted]:
        """Take over the segments of processes that are gone; return what was taken.

        A segment's lock can be taken only when no process holds it. Each owner's
        segments are taken in their order, older owners first.
        """
        held = {s.path.name for s in self._segments}
        candidates: list[tuple[float, str, int, str]] = []
        for name in os.listdir(self.directory):
            if name.startswith(_CREATING):
                self._clean_creating(self.directory / name)
                continue
            parsed = _parse_name(name)
            if parsed is None or name in held or parsed[0] == self.owner:
                continue
            try:
                mtime = os.stat(self.directory / name).st_mtime
            except FileNotFoundError:
                continue
            candidates.append((mtime, parsed[0], parsed[1], name))
        # Order by owner (its oldest file first), then the owner's sequence.
        first_seen: dict[str, float] = {}
        for mtime, owner, _, _ in candidates:
            first_seen[owner] = min(mtime, first_seen.get(owner, mtime))
        candidates.sort(key=lambda c: (first_seen[c[1]], c[1], c[2]))
        adopted: list[Adopted] = []
        for _, _, _, name in candidates:
            segment = self._take(self.directory / name)
            if segment is None:
                continue
            if segment.records == 0:
                self._remove(segment, listed=False)
                continue
            self._segments.insert(self._adopted_position(), segment)
            self._records += segment.records
            adopted.append(Adopted(name, segment.records))
        return adopted

    def _adopted_position(self) -> int:
        """Adopted segments go after the ones adopted before and before our own."""
        for index, segment in enumerate(self._segments):
            if _parse_name(segment.path.name)[0] == self.owner:  # type: ignore[index]
                return index
        return len(self._segments)

    def _take(self, path: Path) -> Segment | None:
        """``path`` locked and measured, or None when someone else holds it or it is gone."""
        fd = _lock(path, os.O_RDWR)
        if fd is None:
            return None
        try:
            size, lines = _complete_lines(fd)
        except BaseException:
            os.close(fd)
            raise
        return Segment(path, fd, size=size, records=lines)

    def _clean_creating(self, path: Path) -> None:
        """A segment whose creator died before naming it: never written to, delete it."""
        fd = _lock(path, os.O_RDONLY)
        if fd is None:
            return
        try:
            if os.fstat(fd).st_size == 0:
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    # -- replaying ---------------------------------------------------------------

    def read(self, limit: int) -> Chunk | None:
        """Up to ``limit`` of the oldest records not replayed yet (one segment); None if empty.

        Lines that are not a record (damaged on disk) are counted in ``unreadable``
        and skipped. Nothing changes until ``consume``.
        """
        if not self._segments:
            return None
        segment = self._segments[0]
        records: list[AccountingRecord] = []
        lines = unreadable = 0
        position = segment.offset
        block_size = _READ_BLOCK
        while lines < limit and position < segment.size:
            block = os.pread(segment.fd, min(block_size, segment.size - position), position)
            if not block:
                break  # the file is shorter than we wrote: it ends here
            start = 0
            while lines < limit:
                newline = block.find(b"\n", start)
                if newline < 0:
                    break
                lines += 1
                record = decode_line(block[start:newline])
                if record is None:
                    unreadable += 1
                else:
                    records.append(record)
                start = newline + 1
            if start == 0:
                if len(block) < block_size:
                    break  # no newline before ``size``: cannot happen for lines we counted
                block_size *= 2  # one line longer than a block (damage): read more at once
                continue
            position += start
        return Chunk(segment, records, position, lines, unreadable)

    def consume(self, chunk: Chunk) -> None:
        """The records of ``chunk`` are in the database: forget them, delete finished segments."""
        segment = chunk.segment
        segment.offset = chunk.end
        segment.records -= chunk.lines
        self._records -= chunk.lines
        if segment.offset >= segment.size:
            self._remove(segment)

    def _remove(self, segment: Segment, *, listed: bool = True) -> None:
        # Deleted before the lock is released: no one can adopt it half-way.
        try:
            segment.path.unlink(missing_ok=True)
        finally:
            os.close(segment.fd)
        if listed:
            self._segments.remove(segment)
        if self._current is segment:
            self._current = None


def encode_line(record: AccountingRecord) -> bytes:
    """One spool line (ASCII JSON: no raw newline can occur inside it)."""
    return json.dumps(record.as_dict(), separators=(",", ":")).encode("ascii") + b"\n"


def decode_line(line: bytes) -> AccountingRecord | None:
    """The record on one spool line, or None if the line is not one."""
    try:
        values: Any = json.loads(line)
        if not isinstance(values, dict):
            return None
        return AccountingRecord.from_dict(values)
    except (ValueError, KeyError, TypeError):
        return None


def _parse_name(name: str) -> tuple[str, int] | None:
    """(owner, sequence) of a segment file name, or None for anything else."""
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    owner, _, seq = name[len(_PREFIX) : -len(_SUFFIX)].rpartition("-")
    if not owner or not seq.isdigit():
        return None
    return owner, int(seq)


def _lock(path: Path, flags: int) -> int | None:
    """A descriptor on ``path`` holding its exclusive lock, or None (held elsewhere, gone)."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Its holder may have deleted it between our open and our lock: then this
        # descriptor is on a file nobody will see again.
        held, named = os.fstat(fd), os.stat(path)
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
            os.close(fd)
            return None
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _complete_lines(fd: int) -> tuple[int, int]:
    """(octets up to the last newline, lines) of a file: a torn last line is left out."""
    size = lines = position = 0
    while True:
        block = os.pread(fd, _READ_BLOCK, position)
        if not block:
            return size, lines
        count = block.count(b"\n")
        if count:
            lines += count
            size = position + block.rindex(b"\n") + 1
        position += len(block)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    """``data`` at ``offset``, however many writes it takes."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
