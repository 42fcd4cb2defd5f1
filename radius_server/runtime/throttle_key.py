"""The key of guessing protection's PIN fingerprints: from a setting, or a file made once.

Failure events shared through the database carry a fingerprint of the wrong
PIN (so a phone repeating one typo costs one). Keyed with HMAC under a key that
is *not* in the database, a reader of the event table learns nothing about any
PIN. Every instance sharing a budget needs the same key: set ``throttle_key``
(``RADIUS_THROTTLE_KEY``) on each; a single box uses ``<data_dir>/throttle.key``,
generated (mode 0600) on first use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from radius_server.config import ConfigError, Settings

KEY_FILE_NAME = "throttle.key"
# Setting values shorter than this are refused by config validation.
MIN_KEY_CHARS = 32


def key_file(settings: Settings) -> Path:
    """Where the generated key lives when ``throttle_key`` is not set."""
    return Path(settings.data_dir).expanduser() / KEY_FILE_NAME


def _read(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"throttle key file {path}: cannot read it ({exc.__class__.__name__})"
        ) from None
    if len(text) < MIN_KEY_CHARS:
        raise ConfigError(f"throttle key file {path}: shorter than {MIN_KEY_CHARS} characters")
    return text.encode("ascii")


def _create(path: Path) -> None:
    """Write a new random key; several workers starting at once agree on one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        # link() fails if the file exists: the first writer wins, the others read it.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def load_throttle_key(settings: Settings) -> bytes:
    """The fingerprint key: ``throttle_key`` if set, else the key file (made if missing)."""
    if settings.throttle_key:
        return settings.throttle_key.encode("utf-8")
    path = key_file(settings)
    if not path.exists():
        try:
            _create(path)
        except OSError as exc:
            raise ConfigError(
                f"throttle key file {path}: cannot create it ({exc.strerror or exc})"
            ) from None
    return _read(path)
