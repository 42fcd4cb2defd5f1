"""Settings: defaults, TOML (flat and tables), RADIUS_* environment, and refusals."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

from radius_server.config import (
    ConfigError,
    Settings,
    load_settings,
    secret_setting_names,
    unknown_environment,
    with_overrides,
)


def write_toml(tmp_path: Path, text: str) -> Path:
    """A config file with ``text``."""
    path = tmp_path / "radius.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file, empty environment: the documented defaults."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = load_settings(None, environ={})
    assert settings == Settings()
    assert settings.auth_port == 1812
    assert settings.acct_port == 1813
    assert settings.log_format == "auto"
    assert settings.smtp_security == "starttls"
    assert settings.database_url == ""
    assert settings.data_dir == str(tmp_path / "xdg" / "radius-server")


def test_default_database_is_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    """An empty database_url resolves to a SQLite file inside data_dir."""
    settings = load_settings(None, environ={"RADIUS_DATA_DIR": str(tmp_path / "data")})
    assert settings.database_url_resolved() == f"sqlite:///{tmp_path / 'data' / 'radius-server.db'}"


def test_toml_flat_and_table_forms(tmp_path: Path) -> None:
    """``smtp_host = ...`` and ``[smtp] host = ...`` both set smtp_host."""
    flat = write_toml(tmp_path, 'smtp_host = "mail.example.com"\nauth_port = 11812\n')
    settings = load_settings(flat, environ={})
    assert settings.smtp_host == "mail.example.com"
    assert settings.auth_port == 11812
    table = write_toml(
        tmp_path,
        'space_name = "Hive"\n[smtp]\nhost = "smtp.example.org"\nport = 587\n'
        'sender-address = "desk@example.org"\n',
    )
    settings = load_settings(table, environ={})
    assert settings.smtp_host == "smtp.example.org"
    assert settings.smtp_port == 587
    assert settings.smtp_sender_address == "desk@example.org"
    assert settings.space_name == "Hive"


def test_environment_overrides_file(tmp_path: Path) -> None:
    """RADIUS_* beats the file, the file beats the default."""
    path = write_toml(tmp_path, "auth_port = 11812\nacct_port = 11813\n[smtp]\nhost = 'file'\n")
    settings = load_settings(path, environ={"RADIUS_AUTH_PORT": "21812", "RADIUS_SMTP_HOST": "env"})
    assert settings.auth_port == 21812
    assert settings.acct_port == 11813
    assert settings.smtp_host == "env"


def test_config_path_from_radius_config(tmp_path: Path) -> None:
    """Without an explicit path, $RADIUS_CONFIG names the file."""
    path = write_toml(tmp_path, "reject_delay = 1.5\n")
    assert load_settings(None, environ={"RADIUS_CONFIG": str(path)}).reject_delay == 1.5


@pytest.mark.parametrize("name", [f.name for f in fields(Settings)])
def test_every_setting_has_an_environment_variable(name: str) -> None:
    """RADIUS_<NAME> is read for every setting: garbage is refused naming the variable,
    a good value is applied."""
    kind = get_type_hints(Settings)[name]
    variable = "RADIUS_" + name.upper()
    if kind is not str:
        with pytest.raises(ConfigError) as info:
            load_settings(None, environ={variable: "not-a-value"})
        assert variable in str(info.value)
        return
    value = {"database_url": "postgresql+psycopg://u@db.example/radius"}.get(
        name, f"value-for-{name}"
    )
    try:
        settings = load_settings(None, environ={variable: value})
    except ConfigError as exc:  # a constrained string (a choice): refused by name
        assert name in str(exc) or variable in str(exc)
    else:
        assert getattr(settings, name) == value


def test_environment_values_are_typed(tmp_path: Path) -> None:
    """Environment text becomes ints, floats and choices."""
    environ = {
        "RADIUS_DATA_DIR": str(tmp_path),
        "RADIUS_LOG_FORMAT": "json",
        "RADIUS_LOG_LEVEL": "debug",
        "RADIUS_SYNC_INTERVAL": "0.5",
        "RADIUS_SMTP_SECURITY": "tls",
        "RADIUS_SMTP_RATE_PER_MINUTE": " 5 ",
    }
    settings = load_settings(None, environ=environ)
    assert settings.data_dir == str(tmp_path)
    assert settings.log_format == "json"
    assert settings.log_level == "debug"
    assert settings.sync_interval == 0.5
    assert settings.smtp_security == "tls"
    assert settings.smtp_rate_per_minute == 5


def test_plain_postgresql_url_uses_psycopg(tmp_path: Path) -> None:
    """postgresql:// is accepted and resolved to the installed psycopg 3 driver."""
    settings = load_settings(None, environ={"RADIUS_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url_resolved() == "postgresql+psycopg://u@h/db"


def test_unknown_setting_in_file_is_refused_by_name(tmp_path: Path) -> None:
    """A typo in the file is an error naming the setting, not silently ignored."""
    with pytest.raises(ConfigError, match="smtp_hots"):
        load_settings(write_toml(tmp_path, "[smtp]\nhots = 'x'\n"), environ={})
    with pytest.raises(ConfigError, match="auth_prot"):
        load_settings(write_toml(tmp_path, "auth_prot = 1\n"), environ={})


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"RADIUS_AUTH_PORT": "notaport"}, "RADIUS_AUTH_PORT"),
        ({"RADIUS_AUTH_PORT": "70000"}, "auth_port"),
        ({"RADIUS_ACCT_PORT": "-1"}, "acct_port"),
        ({"RADIUS_SMTP_PORT": "25.5"}, "RADIUS_SMTP_PORT"),
        ({"RADIUS_SMTP_RATE_PER_MINUTE": "0"}, "smtp_rate_per_minute"),
        ({"RADIUS_SYNC_INTERVAL": "soon"}, "RADIUS_SYNC_INTERVAL"),
        ({"RADIUS_SYNC_INTERVAL": "0"}, "sync_interval"),
        ({"RADIUS_REJECT_DELAY": "-1"}, "reject_delay"),
        ({"RADIUS_LOG_FORMAT": "fancy"}, "log_format"),
        ({"RADIUS_LOG_LEVEL": "verbose"}, "log_level"),
        ({"RADIUS_SMTP_SECURITY": "ssl"}, "smtp_security"),
        ({"RADIUS_DATABASE_URL": "mysql://u@h/db"}, "database_url"),
        # A port to connect to cannot be 0 (a port to listen on can: any free port).
        ({"RADIUS_SMTP_PORT": "0"}, "smtp_port"),
        ({"RADIUS_TIMEZONE": "Europe/Atlantis"}, "timezone"),
    ],
)
def test_bad_environment_value_is_refused_by_name(environ: dict[str, str], name: str) -> None:
    """Bad ints, ports, numbers and choices stop with a message naming the setting."""
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ=environ)
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('auth_port = "1812x"\n', "auth_port"),
        ("auth_port = true\n", "auth_port"),
        ("auth_port = 1812.5\n", "auth_port"),
        ("[smtp]\nport = 99999\n", "smtp_port"),
        ("space_name = 42\n", "space_name"),
        ('log_format = "xml"\n', "log_format"),
    ],
)
def test_bad_file_value_is_refused_by_name(tmp_path: Path, text: str, name: str) -> None:
    """The same checks apply to values from the TOML file."""
    with pytest.raises(ConfigError) as info:
        load_settings(write_toml(tmp_path, text), environ={})
    assert name in str(info.value)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    """A named file that does not exist is an error, not silent defaults."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_settings(missing, environ={})
    assert str(missing) in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(None, environ={"RADIUS_CONFIG": str(missing)})


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    """A syntax error in the file is a ConfigError naming the file."""
    path = write_toml(tmp_path, "auth_port = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://radius@127.0.0.1:5432/radius",
        "postgresql+psycopg://radius:pw@db/radius",
        "sqlite:////var/lib/radius/radius.db",
    ],
)
def test_supported_database_urls_are_accepted(url: str) -> None:
    """SQLite and postgresql+psycopg URLs pass validation unchanged."""
    settings = load_settings(None, environ={"RADIUS_DATABASE_URL": url})
    assert settings.database_url_resolved() == url


def test_overrides_are_validated() -> None:
    """Command-line overrides go through the same validation; None changes nothing."""
    base = load_settings(None, environ={})
    assert with_overrides(base, auth_port=None) == base
    assert with_overrides(base, auth_port=1645).auth_port == 1645
    with pytest.raises(ConfigError, match="auth_port"):
        with_overrides(base, auth_port=70000)


def test_smtp_password_is_marked_secret() -> None:
    """The SMTP password is listed among settings never to print."""
    assert "smtp_password" in secret_setting_names()


def test_every_unknown_setting_is_named_with_the_closest_real_one(tmp_path: Path) -> None:
    """One error lists every unknown name, each with a suggestion when one is close."""
    path = write_toml(
        tmp_path, 'databse_url = "sqlite:///x.db"\nshoe_size = 42\n[smtp]\nhots = "mail"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "databse_url (did you mean database_url?)" in message
    assert "smtp_hots (did you mean smtp_host?)" in message
    assert "shoe_size" in message and "shoe_size (did you mean" not in message
    assert len(message.splitlines()) == 1


def test_unknown_radius_variables_get_a_warning_not_an_error() -> None:
    """RADIUS_* typos are named with a suggestion; settings and known helpers pass silently."""
    environ = {
        "RADIUS_DATABSE_URL": "sqlite:///x.db",
        "RADIUS_SHOE_SIZE": "42",
        "RADIUS_DATABASE_URL": "sqlite:///y.db",
        "RADIUS_CONFIG": "x.toml",
        "RADIUS_ACTOR": "cli:ana",
        "RADIUS_TEST_PG_URL": "postgresql+psycopg://postgres@127.0.0.1/test",
        "HOME": "/root",
    }
    warnings = unknown_environment(environ)
    assert warnings == [
        "environment variable RADIUS_DATABSE_URL (did you mean RADIUS_DATABASE_URL?) "
        "is not a setting: ignored",
        "environment variable RADIUS_SHOE_SIZE is not a setting: ignored",
    ]
    env = {k: v for k, v in environ.items() if k != "RADIUS_CONFIG"}
    assert load_settings(None, environ=env).database_url == "sqlite:///y.db"


def test_timezone_defaults_to_utc_and_takes_iana_names() -> None:
    """The space's zone for validity dates: UTC unless set."""
    assert load_settings(None, environ={}).timezone == "UTC"
    settings = load_settings(None, environ={"RADIUS_TIMEZONE": "Europe/Berlin"})
    assert str(settings.zone()) == "Europe/Berlin"


def test_database_timeout_and_snapshot_settings(tmp_path: Path) -> None:
    """database_timeout must be in (0, 600]; the snapshot lives in data_dir unless moved or off."""
    for bad in ("0", "-1", "601"):
        with pytest.raises(ConfigError, match="database_timeout"):
            load_settings(None, environ={"RADIUS_DATABASE_TIMEOUT": bad})
    settings = load_settings(None, environ={"RADIUS_DATA_DIR": str(tmp_path)})
    assert settings.database_timeout == 5.0
    assert settings.snapshot_path() == tmp_path / "directory-snapshot.json"
    moved = load_settings(None, environ={"RADIUS_SNAPSHOT_FILE": str(tmp_path / "v.json")})
    assert moved.snapshot_path() == tmp_path / "v.json"
    assert load_settings(None, environ={"RADIUS_SNAPSHOT_ENABLED": "no"}).snapshot_path() is None


def test_stale_pin_days_is_a_setting_and_the_old_name_still_works(tmp_path: Path) -> None:
    """stale_pin_days left the throttle_* settings; the old name is read with a warning."""
    assert load_settings(environ={"RADIUS_STALE_PIN_DAYS": "7"}).stale_pin_days == 7.0
    with pytest.warns(FutureWarning, match="throttle_stale_pin_days is deprecated"):
        settings = load_settings(write_toml(tmp_path, "[throttle]\nstale_pin_days = 3\n"), {})
    assert settings.stale_pin_days == 3.0
    with pytest.warns(FutureWarning, match="use stale_pin_days"):
        from_env = load_settings(environ={"RADIUS_THROTTLE_STALE_PIN_DAYS": "5"})
    assert from_env.stale_pin_days == 5.0
    assert unknown_environment({"RADIUS_THROTTLE_STALE_PIN_DAYS": "5"}) == []
    with pytest.raises(ConfigError, match="stale_pin_days"):
        load_settings(environ={"RADIUS_STALE_PIN_DAYS": "0"})


def test_session_settings_from_file_and_environment(tmp_path: Path) -> None:
    """Lists come from a TOML array or a comma list; bounds are checked."""
    config = tmp_path / "radius-server.toml"
    config.write_text('disconnect_timeouts = [0.5, 1]\naccounting_spool_dir = "spool"\n')
    settings = load_settings(config, {})
    assert settings.disconnect_timeouts == (0.5, 1.0)
    assert settings.spool_path() == tmp_path / "spool"
    assert load_settings(None, {"RADIUS_DISCONNECT_TIMEOUTS": "2,3"}).disconnect_timeouts == (2, 3)
    for bad in (
        {"RADIUS_DISCONNECT_TIMEOUTS": "soon"},
        {"RADIUS_DISCONNECT_TIMEOUTS": "0"},
        {"RADIUS_DEVICE_LIMIT": "-1"},
        {"RADIUS_ACCT_INTERIM_INTERVAL": "30"},
        {"RADIUS_ACCOUNTING_BATCH_MAX": "0"},
    ):
        with pytest.raises(ConfigError):
            load_settings(None, bad)
