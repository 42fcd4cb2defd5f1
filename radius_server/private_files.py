"""Files and directories only their owner may read, whatever the umask.

The SQLite database holds every PIN and shared secret, an export holds PINs,
a key file holds a private key: each is created 0600 and the directories we
create for them 0700. The mode is set with ``chmod`` after creation because the
mode given to ``open``/``mkdir`` is only an upper bound the umask can lower
further (a umask of 0277 would leave an unwritable directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each new directory 0700.

    (The XDG base directory spec asks the same of ``~/.local/share`` when it is
    missing.) An existing directory is left as it is: the operator chose its
    mode (a shared ``/srv`` tree, say), and tightening it behind their back
    could lock out another service.
    """
    missing: list[Path] = []
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for directory in missing:
        os.chmod(directory, DIR_MODE)


def _private_fd(path: Path) -> int:
    """A write descriptor on ``path``, truncated, its mode 0600 even if it existed before.

    An existing file (a key from an earlier run, say, made 0644) is truncated in
    place and tightened before anything is written, so a key or PIN never sits
    in a readable file.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_text(path: Path) -> TextIO:
    """``path`` opened for writing UTF-8 text (no newline translation), as a 0600 file."""
    return os.fdopen(_private_fd(path), "w", encoding="utf-8", newline="")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file (replacing any previous content)."""
    with os.fdopen(_private_fd(path), "wb") as handle:
        handle.write(data)


def create_private_file(path: Path) -> bool:
    """Create an empty 0600 ``path`` if absent (for SQLite to fill); True when created.

    SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the mode of the
    database file (and ``fchmod``s them past the umask), so they are private too.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True
