"""Which config file a command reads, and what relative paths in it mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from radius_server.config import config_file_in_use, load_settings


def test_local_file_is_found_only_without_config_or_radius_config(tmp_path: Path) -> None:
    """./radius-server.toml is used when neither --config nor $RADIUS_CONFIG names a file."""
    local = tmp_path / "radius-server.toml"
    assert config_file_in_use(None, environ={}, cwd=tmp_path) is None
    local.write_text('data_dir = "var"\n', encoding="utf-8")
    assert config_file_in_use(None, environ={}, cwd=tmp_path) == str(local)
    assert config_file_in_use("other.toml", environ={}, cwd=tmp_path) == "other.toml"
    named = {"RADIUS_CONFIG": "/etc/radius.toml"}
    assert config_file_in_use(None, environ=named, cwd=tmp_path) == "/etc/radius.toml"


@pytest.mark.parametrize(
    ("line", "name", "expected"),
    [
        ('data_dir = "var"', "data_dir", "{dir}/var"),
        ('data_dir = "/srv/radius"', "data_dir", "/srv/radius"),
        ('data_dir = "~/radius"', "data_dir", "~/radius"),
        ('tls_cert_file = "certs/server.pem"', "tls_cert_file", "{dir}/certs/server.pem"),
        ('database_url = "sqlite:///var/r.db"', "database_url", "sqlite:///{dir}/var/r.db"),
        ('database_url = "sqlite:////abs/r.db"', "database_url", "sqlite:////abs/r.db"),
        ('database_url = "postgresql://u@h/db"', "database_url", "postgresql://u@h/db"),
    ],
)
def test_relative_paths_in_a_config_file_are_relative_to_it(
    tmp_path: Path, line: str, name: str, expected: str
) -> None:
    """data_dir = "var" means the var next to the file, from whatever directory."""
    path = tmp_path / "conf" / "radius-server.toml"
    path.parent.mkdir()
    path.write_text(line + "\n", encoding="utf-8")
    settings = load_settings(str(path), environ={})
    assert getattr(settings, name) == expected.format(dir=path.parent)


def test_environment_paths_stay_as_given() -> None:
    """$RADIUS_DATA_DIR is not a file's: it is used as given (relative to the process)."""
    settings = load_settings(None, environ={"RADIUS_DATA_DIR": "var"})
    assert settings.data_dir == "var"
