"""Settings: a TOML file (``--config``) overlaid by ``RADIUS_*`` environment variables.

Every setting has one flat name (``smtp_host``). In TOML it may be written flat
(``smtp_host = "..."``) or in a table (``[smtp]`` then ``host = "..."``); in the
environment it is ``RADIUS_`` plus the upper-cased name (``RADIUS_SMTP_HOST``).
Precedence: environment over file over default. A bad value stops the program
with a message naming the setting (``ConfigError``), never a traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import tzinfo
from pathlib import Path
from typing import Any, get_type_hints

from radius_server.rules.validation import parse_yes_no
from radius_server.rules.validity import DEFAULT_ZONE, load_zone

ENV_PREFIX = "RADIUS_"
CONFIG_ENV = "RADIUS_CONFIG"
# Found in the current directory when neither --config nor $RADIUS_CONFIG names a file:
# ./run.sh writes one in the checkout, so every command run there finds the demo's data.
LOCAL_CONFIG_NAME = "radius-server.toml"
# Settings holding a path: relative in a config file means relative to that file.
_PATH_SETTINGS = (
    "data_dir",
    "tls_cert_file",
    "tls_key_file",
    "tls_ca_file",
    "accounting_spool_dir",
)
# RADIUS_* variables that are not settings: no "unknown variable" warning for them.
OTHER_ENV = (CONFIG_ENV, "RADIUS_ACTOR", "RADIUS_TEST_PG_URL")
# Old setting name -> new one: still read (a warning says to rename it).
RENAMED = {"throttle_stale_pin_days": "stale_pin_days"}


class ConfigError(ValueError):
    """A setting is missing, unknown or has a bad value; the message names it."""


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "radius-server")


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of the program, validated. Field names are the setting names."""

    data_dir: str = field(default_factory=_default_data_dir)
    # Empty means "SQLite file in data_dir"; see database_url_resolved().
    database_url: str = ""
    space_name: str = "Our coworking space"
    # IANA zone of the space: a validity date means that whole day there (rules/validity.py).
    timezone: str = DEFAULT_ZONE
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    host: str = "::"
    # Server processes sharing the ports (SO_REUSEPORT); 0 means one per CPU.
    workers: int = 1
    auth_port: int = 1812
    acct_port: int = 1813
    # Prometheus /metrics, /healthz and /readyz of ``serve`` (HTTP, no authentication:
    # keep it on loopback or a monitoring network). metrics_port 0: any free port.
    metrics_enabled: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9812
    # How often a running server polls the database for changes (seconds).
    sync_interval: float = 0.25
    # PostgreSQL: servers LISTEN for changes and read at once when notified, then only
    # every sync_safety_interval in case one was missed (sync_interval while not listening).
    sync_notify: bool = True
    sync_safety_interval: float = 30.0
    # Seconds to connect, and for each statement, before the database counts as
    # unavailable (a frozen PostgreSQL included); admin commands fail after it.
    database_timeout: float = 5.0
    # The server's copy of its last good view (0600), served from when it starts
    # while the database is down. Empty path: <data_dir>/directory-snapshot.json.
    snapshot_enabled: bool = True
    snapshot_file: str = ""
    # Seconds a reply stays in the RFC 5080 duplicate cache.
    reply_cache_seconds: float = 5.0
    # Seconds to wait before sending an Access-Reject (0 = none), like FreeRADIUS reject_delay.
    reject_delay: float = 0.0
    unknown_client_log_interval: float = 10.0
    # Days after a PIN change that the previous PIN is answered stale_pin (a device
    # still holding it) instead of being counted as a guess. A member rule, not a
    # budget: it was throttle_stale_pin_days (still read, with a warning).
    stale_pin_days: float = 30.0
    # Guessing protection (rules/throttle.py; the README's security model derives its
    # numbers from these defaults). Budgets count failures in rolling windows.
    throttle_enabled: bool = True
    throttle_user_budget: int = 10  # distinct wrong PINs per user, unknown devices
    throttle_user_window_hours: float = 24.0
    throttle_device_budget: int = 5  # per (user, known device)
    throttle_device_window_hours: float = 24.0
    throttle_station_budget: int = 20  # per calling station across users
    throttle_station_window_hours: float = 1.0
    throttle_location_budget: int = 40  # unknown devices at one client / access point
    throttle_location_window_hours: float = 1.0
    throttle_global_budget: int = 120  # all unknown devices together (bounds spraying)
    throttle_global_window_hours: float = 1.0
    throttle_known_device_days: float = 90.0
    throttle_max_known_devices: int = 3
    # HMAC key of the wrong-PIN fingerprints (at least 32 characters); the same on
    # every instance sharing a database. Empty: <data_dir>/throttle.key, made once.
    throttle_key: str = ""
    # EAP (PEAP/TTLS for WPA2/WPA3-Enterprise). Empty paths mean the files that
    # ``radius-server certs generate`` writes to <data_dir>/certs/ (see tls_files());
    # without a server certificate EAP is off and PAP/CHAP/MS-CHAPv2 still work.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Certificates sent after the server's own (intermediates, the private CA).
    tls_ca_file: str = ""
    tls_min_version: str = "1.2"  # 1.2 | 1.3
    tls_max_version: str = "1.3"
    eap_default_method: str = "peap"  # peap | ttls: what we offer first; a Nak switches
    # Seconds an unfinished EAP conversation is kept after its last message.
    eap_session_timeout: float = 60.0
    # Unfinished EAP conversations held at once (about 70 KiB each once TLS has
    # started); when full, the idlest is evicted (see eap/sessions.py).
    eap_max_sessions: int = 2048
    # Octets of TLS data per EAP-Request at most (FreeRADIUS fragment_size): 1390 makes
    # 1400-octet EAP packets, the Framed-MTU hostapd announces; a NAS's smaller
    # Framed-MTU lowers it per request (eap/handler.py).
    eap_fragment_size: int = 1390
    # Fast reconnect (TLS session resumption for PEAP/TTLS): seconds a device may resume
    # its TLS session and skip the PIN check inside, while still allowed (0: off).
    tls_session_lifetime: int = 3600
    # Resumable sessions remembered per server process; the oldest go first.
    tls_session_cache_size: int = 10000
    # Sessions (accounting, device limits, disconnects; see README "Sessions").
    # Acct-Interim-Interval sent in every Access-Accept (seconds, RFC 2869 5.16).
    acct_interim_interval: int = 600
    # A session with no accounting for 2 x acct_interim_interval + this is closed as stale.
    session_stale_grace: float = 120.0
    # Days closed sessions are kept before they are pruned.
    session_retention_days: float = 90.0
    # Devices a member may have online at once (0 = unlimited); per-member override
    # with ``customer update --device-limit``.
    device_limit: int = 3
    # Where accounting waits, fsync'd, while the database is unreachable. Empty:
    # <data_dir>/spool. Bounded: past accounting_spool_max_records no more is accepted
    # (the NAS keeps retrying), with a warning from 80 %.
    accounting_spool_dir: str = ""
    accounting_spool_max_records: int = 1_000_000
    # Accounting records written in one transaction at most (group commit).
    accounting_batch_max: int = 1000
    # Seconds to wait for a Disconnect-ACK/NAK before each retransmission (RFC 5176).
    disconnect_timeouts: tuple[float, ...] = (1.0, 2.0, 4.0)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: str = "starttls"  # none | starttls | tls
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender_address: str = ""
    smtp_sender_name: str = ""
    smtp_timeout: float = 30.0
    smtp_rate_per_minute: int = 60
    # The HTTP API (``radius-server web``): where it listens, which proxies' X-Forwarded-*
    # headers it believes (comma-separated addresses; empty: none), and how many failed
    # authentications one source may make per window before it is answered 429.
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_trusted_proxies: str = ""
    web_auth_failures: int = 10
    web_auth_window: float = 60.0
    # The web pages: the address people reach them at (links in emails: staff password
    # set-up, member sign-in), and how long a signed-in browser stays signed in when
    # idle and at most (seconds).
    web_public_url: str = ""
    web_session_idle: float = 3600.0
    web_session_lifetime: float = 43200.0
    # Recent decisions (accept/reject and reason) recorded in the database for the
    # front desk, in batches off the hot path; kept this many days; at most
    # decision_queue_max wait in memory while the database is away (older ones dropped).
    decision_log_enabled: bool = True
    decision_retention_days: float = 30.0
    decision_queue_max: int = 10_000
    # The Wi-Fi network members join (shown on the members' page, put in their Apple
    # profile); empty: the space_name. At most 32 octets (IEEE 802.11 SSID).
    wifi_ssid: str = ""

    def database_url_resolved(self) -> str:
        """Return the SQLAlchemy URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database_url.startswith("postgresql://"):
            # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
            return "postgresql+psycopg://" + self.database_url.removeprefix("postgresql://")
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).expanduser() / 'radius-server.db'}"

    def spool_path(self) -> Path:
        """The directory of the accounting spool (``accounting_spool_dir`` or <data_dir>/spool)."""
        if self.accounting_spool_dir:
            return Path(self.accounting_spool_dir).expanduser()
        return Path(self.data_dir).expanduser() / "spool"

    def snapshot_path(self) -> Path | None:
        """Where the directory snapshot lives, or None when snapshots are off."""
        if not self.snapshot_enabled:
            return None
        if self.snapshot_file:
            return Path(self.snapshot_file).expanduser()
        return Path(self.data_dir).expanduser() / "directory-snapshot.json"

    def tls_files(self) -> tuple[Path, Path, Path | None]:
        """(certificate, key, chain) for EAP; empty settings mean ``<data_dir>/certs/``.

        The chain defaults to the generated ``ca.pem`` only when it exists.
        """
        certs = Path(self.data_dir).expanduser() / "certs"
        cert = Path(self.tls_cert_file).expanduser() if self.tls_cert_file else certs / "server.pem"
        key = Path(self.tls_key_file).expanduser() if self.tls_key_file else certs / "server.key"
        chain: Path | None = None
        if self.tls_ca_file:
            chain = Path(self.tls_ca_file).expanduser()
        elif not self.tls_cert_file and (certs / "ca.pem").exists():
            chain = certs / "ca.pem"
        return cert, key, chain

    def zone(self) -> tzinfo:
        """The ``timezone`` setting as a tzinfo (validated when the settings were loaded)."""
        return load_zone(self.timezone)


_CHOICES: dict[str, tuple[str, ...]] = {
    "log_format": ("auto", "json", "console"),
    "log_level": ("debug", "info", "warning", "error"),
    "smtp_security": ("none", "starttls", "tls"),
    "tls_min_version": ("1.2", "1.3"),
    "tls_max_version": ("1.2", "1.3"),
    "eap_default_method": ("peap", "ttls"),
}
# Ports to listen on may be 0 ("any free port"); a port to connect to may not.
_PORTS = {"auth_port": 0, "acct_port": 0, "smtp_port": 1, "web_port": 0, "metrics_port": 0}
_SECRET_NAMES = ("smtp_password", "throttle_key")


def secret_setting_names() -> tuple[str, ...]:
    """Names of settings whose values must never be printed or logged."""
    return _SECRET_NAMES


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}".replace("-", "_")
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or raise ConfigError."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            answer = parse_yes_no(str(value))
            if answer is None:
                raise ValueError
            return answer
        if kind is int:
            if isinstance(value, (bool, float)):
                raise ValueError
            return int(str(value).strip())
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).strip())
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind == tuple[float, ...]:
            # A TOML array, or "1, 2, 4" in the environment.
            items = value if isinstance(value, list) else str(value).split(",")
            if any(isinstance(item, bool) for item in items):
                raise ValueError
            return tuple(float(str(item).strip()) for item in items)
    except ValueError:
        pass
    expected = "a list of seconds" if kind == tuple[float, ...] else kind.__name__
    raise ConfigError(f"setting {name}: expected {expected}, got {type(value).__name__}")


def _validate(settings: Settings) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        if value not in allowed:
            raise ConfigError(f"setting {name}: {value!r} is not one of {', '.join(allowed)}")
    for name, lowest in _PORTS.items():
        port = getattr(settings, name)
        if not lowest <= port <= 65535:
            raise ConfigError(f"setting {name}: {port} is not a port number ({lowest}-65535)")
    try:
        load_zone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"setting timezone: {exc}") from None
    for name in (
        "sync_interval",
        "sync_safety_interval",
        "reply_cache_seconds",
        "smtp_timeout",
        "eap_session_timeout",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"setting {name}: must be greater than 0")
    if not 0 < settings.database_timeout <= 600:
        raise ConfigError("setting database_timeout: must be greater than 0 and at most 600")
    if not 0 <= settings.workers <= 64:
        raise ConfigError("setting workers: must be between 0 (one per CPU) and 64")
    if settings.stale_pin_days <= 0:
        raise ConfigError("setting stale_pin_days: must be greater than 0")
    for name in ("reject_delay", "unknown_client_log_interval"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"setting {name}: must not be negative")
    if settings.tls_min_version > settings.tls_max_version:
        raise ConfigError("setting tls_min_version: higher than tls_max_version")
    if settings.eap_max_sessions <= 0:
        raise ConfigError("setting eap_max_sessions: must be greater than 0")
    if not 0 <= settings.tls_session_lifetime <= 7 * 86400:
        # RFC 8446 4.6.1: a ticket lives at most seven days.
        raise ConfigError("setting tls_session_lifetime: must be between 0 (off) and 604800")
    if not 1 <= settings.tls_session_cache_size <= 1_000_000:
        raise ConfigError("setting tls_session_cache_size: must be between 1 and 1000000")
    if not 200 <= settings.eap_fragment_size <= 3000:
        # The reply must fit one RADIUS packet (4096 octets) with its 253-octet pieces.
        raise ConfigError("setting eap_fragment_size: must be between 200 and 3000")
    for name in [f.name for f in fields(Settings) if f.name.startswith("throttle_")]:
        value = getattr(settings, name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"setting {name}: must be greater than 0")
    if settings.throttle_key and len(settings.throttle_key) < 32:
        raise ConfigError("setting throttle_key: use at least 32 characters (openssl rand -hex 32)")
    if not 60 <= settings.acct_interim_interval <= 86400:
        # RFC 2869 5.16: SHOULD NOT be smaller than 60.
        raise ConfigError("setting acct_interim_interval: must be between 60 and 86400 seconds")
    for name in ("session_stale_grace", "session_retention_days"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"setting {name}: must be greater than 0")
    if not 0 <= settings.device_limit <= 1000:
        raise ConfigError("setting device_limit: must be between 0 (unlimited) and 1000")
    if settings.accounting_spool_max_records < 100:
        raise ConfigError("setting accounting_spool_max_records: must be at least 100")
    if not 1 <= settings.accounting_batch_max <= 10000:
        raise ConfigError("setting accounting_batch_max: must be between 1 and 10000")
    timeouts = settings.disconnect_timeouts
    if not timeouts or len(timeouts) > 10 or any(not 0 < t <= 60 for t in timeouts):
        raise ConfigError(
            "setting disconnect_timeouts: 1 to 10 waits, each more than 0 and at most 60 seconds"
        )
    if settings.web_auth_failures <= 0 or settings.web_auth_window <= 0:
        raise ConfigError("setting web_auth_failures/web_auth_window: must be greater than 0")
    if settings.smtp_rate_per_minute <= 0:
        raise ConfigError("setting smtp_rate_per_minute: must be greater than 0")
    if not 0 < settings.web_session_idle <= settings.web_session_lifetime:
        raise ConfigError(
            "setting web_session_idle: must be greater than 0 and at most web_session_lifetime"
        )
    if settings.web_public_url and not settings.web_public_url.startswith(("https://", "http://")):
        raise ConfigError("setting web_public_url: use https://HOST[:PORT] (or http:// to test)")
    if settings.decision_retention_days <= 0:
        raise ConfigError("setting decision_retention_days: must be greater than 0")
    if not 1 <= settings.decision_queue_max <= 10_000_000:
        raise ConfigError("setting decision_queue_max: must be between 1 and 10000000")
    if len(settings.wifi_ssid.encode()) > 32:
        raise ConfigError("setting wifi_ssid: at most 32 octets (an 802.11 network name)")
    url = settings.database_url
    if url and not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ConfigError(
            "setting database_url: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )


def config_file_in_use(
    explicit: str | None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> str | None:
    """The config file a command reads: ``--config``, else ``$RADIUS_CONFIG``, else
    ``./radius-server.toml`` when it exists (made absolute), else none."""
    env = os.environ if environ is None else environ
    named = explicit or env.get(CONFIG_ENV)
    if named:
        return named
    local = (cwd or Path.cwd()) / LOCAL_CONFIG_NAME
    return str(local.absolute()) if local.is_file() else None


def _relative_to_file(name: str, value: Any, base: Path) -> Any:
    """A path setting from a config file, relative paths taken from the file's directory."""
    if not isinstance(value, str) or not value or value.startswith("~"):
        return value
    if name in _PATH_SETTINGS:
        return value if Path(value).is_absolute() else str(base / value)
    if name == "database_url" and value.startswith("sqlite:///"):
        target = value.removeprefix("sqlite:///")
        if target and target != ":memory:" and not Path(target).is_absolute():
            return "sqlite:///" + str(base / target)
    return value


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f"{name} (did you mean {close[0]}?)" if close else name


def _describe_unknown(unknown: list[str], names: set[str]) -> str:
    """Every unknown setting in one message, each with the closest real name if any."""
    label = "unknown setting" if len(unknown) == 1 else "unknown settings"
    return f"{label} {', '.join(_suggest(name, names) for name in unknown)}"


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """Warnings for ``RADIUS_*`` variables that are no setting: a typo must not pass unseen.

    Only warnings, not errors: the environment is shared with other programs.
    """
    known = {ENV_PREFIX + name.upper() for name in [*(f.name for f in fields(Settings)), *RENAMED]}
    known |= set(OTHER_ENV)
    return [
        f"environment variable {_suggest(name, known)} is not a setting: ignored"
        for name in sorted(environ)
        if name.startswith(ENV_PREFIX) and name not in known
    ]


def _renamed(name: str, where: str) -> str:
    """The current name of a setting; an old one still works, with a FutureWarning."""
    new = RENAMED.get(name)
    if new is None:
        return name
    warnings.warn(f"{where}: setting {name} is deprecated, use {new}", FutureWarning, stacklevel=3)
    return new


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build validated Settings from an optional TOML file and the environment.

    ``config_path`` falls back to ``$RADIUS_CONFIG``; a named file that does not
    exist is an error (a typo must not silently give defaults). Relative paths
    in the file (``data_dir = "var"``) are relative to the file's directory, so
    the file means the same thing from whatever directory a command runs.
    """
    env = os.environ if environ is None else environ
    path = config_path or env.get(CONFIG_ENV)
    hints = get_type_hints(Settings)
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as handle:
                table = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
        flat = {_renamed(name, f"config file {path}"): v for name, v in _flatten(table).items()}
        unknown = [name for name in flat if name not in names]
        if unknown:
            raise ConfigError(f"config file {path}: {_describe_unknown(unknown, names)}")
        base = Path(path).absolute().parent
        for name, value in flat.items():
            values[name] = _relative_to_file(name, _coerce(name, hints[name], value), base)
    for old, new in RENAMED.items():
        raw = env.get(ENV_PREFIX + old.upper())
        if raw is not None and ENV_PREFIX + new.upper() not in env:
            _renamed(old, "environment")
            values[new] = _coerce(ENV_PREFIX + old.upper(), hints[new], raw)
    for name in names:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(ENV_PREFIX + name.upper(), hints[name], raw)
    settings = Settings(**values)
    _validate(settings)
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """Return a copy with command-line overrides applied (``None`` means unchanged)."""
    real = {k: v for k, v in changes.items() if v is not None}
    updated = dataclasses.replace(settings, **real)
    if updated.workers == 0:
        updated = dataclasses.replace(updated, workers=os.cpu_count() or 1)
    _validate(updated)
    return updated
