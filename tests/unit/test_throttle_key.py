"""The fingerprint key: a setting shared by instances, or a file made once (mode 0600)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from radius_server.config import ConfigError, Settings, load_settings
from radius_server.runtime.throttle_key import key_file, load_throttle_key


def test_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    """First use writes a random key readable by the owner only; later uses read it."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    first = load_throttle_key(settings)
    path = key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_throttle_key(settings) == first and len(first) == 64
    assert load_throttle_key(Settings(data_dir=str(tmp_path / "other"))) != first
    assert [p.name for p in path.parent.iterdir()] == ["throttle.key"]


def test_throttle_key_setting_wins_and_is_checked(tmp_path: Path) -> None:
    """Instances sharing a database are given one key; a short one is refused."""
    key = "k" * 40
    settings = load_settings(environ={"RADIUS_THROTTLE_KEY": key, "RADIUS_DATA_DIR": str(tmp_path)})
    assert load_throttle_key(settings) == key.encode()
    assert not key_file(settings).exists()
    with pytest.raises(ConfigError, match="throttle_key"):
        load_settings(environ={"RADIUS_THROTTLE_KEY": "short"})


def test_bad_key_file_is_one_clear_error(tmp_path: Path) -> None:
    """A truncated key file stops start-up with a message naming it, never the key."""
    settings = Settings(data_dir=str(tmp_path))
    key_file(settings).write_text("abc\n")
    with pytest.raises(ConfigError, match=r"throttle key file .* shorter than 32"):
        load_throttle_key(settings)
