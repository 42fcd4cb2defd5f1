"""The admin command line through the real ``radius-server`` console script, both back ends.

Data is seeded and checked through the repositories (fast, in-process); only the
command under test goes through the console script.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radius_server.rules import pins
from radius_server.store import database
from radius_server.store.clients import ClientRepository
from radius_server.store.customers import CustomerRepository
from tests.conftest import Cli, CliResult

# For failures caught before any database access, the back end makes no difference:
# run those on SQLite only to keep the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)

PIN_LINE = re.compile(r"^created ana@example\.com\s+PIN (\d{5})$", re.MULTILINE)


@pytest.fixture
def repos(clean_db_url: str) -> Iterator[tuple[CustomerRepository, ClientRepository]]:
    """Repositories on the same database the ``cli`` fixture uses."""
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    try:
        yield CustomerRepository(sessions, actor="test:seed"), ClientRepository(sessions)
    finally:
        engine.dispose()


@pytest.fixture
def repo(repos: tuple[CustomerRepository, ClientRepository]) -> CustomerRepository:
    """Customer repository on the CLI's database."""
    return repos[0]


@pytest.fixture
def nas_repo(repos: tuple[CustomerRepository, ClientRepository]) -> ClientRepository:
    """RADIUS client repository on the CLI's database."""
    return repos[1]


@pytest.fixture
def cli(clean_cli: Cli) -> Cli:
    """The real console script (both back ends) on this module's emptied database."""
    return clean_cli


def ok(result: CliResult) -> CliResult:
    """Assert a clean success and return the result."""
    assert result.code == 0, f"exit {result.code}: {result.err}"
    assert "Traceback" not in result.err
    return result


def failed(result: CliResult, *needles: str) -> str:
    """Assert an expected failure: non-zero, one line on stderr, no traceback; return it."""
    assert result.code != 0, result.out
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_add_prints_a_five_digit_pin_and_show_displays_it(
    cli: Cli, repo: CustomerRepository
) -> None:
    """The "done when" command: add prints a 5-digit PIN; show displays the same PIN."""
    result = ok(cli("customer", "add", "ana@example.com", "--name", "Ana"))
    match = PIN_LINE.search(result.out)
    assert match is not None, result.out
    pin = match.group(1)
    assert not pins.is_trivial(pin)
    assert repo.get("ana@example.com").pin == pin
    assert repo.get("ana@example.com").full_name == "Ana"
    shown = ok(cli("customer", "show", "ANA@example.com"))
    assert re.search(rf"^pin\s+{pin}$", shown.out, re.MULTILINE)
    assert re.search(r"^email\s+ana@example\.com$", shown.out, re.MULTILINE)


def test_add_json_has_pin(cli: Cli, repo: CustomerRepository) -> None:
    """--json output parses and carries the PIN and the fields."""
    data = json.loads(
        ok(
            cli(
                "--json",
                "customer",
                "add",
                "bob@example.com",
                "--name",
                "Bob",
                "--no-wifi",
                "--valid-until",
                "2031-01-31",
            )
        ).out
    )
    assert pins.is_valid_format(data["pin"])
    assert data["email"] == "bob@example.com"
    assert data["name"] == "Bob"
    assert data["active"] is True and data["wifi_access"] is False
    # Inclusive: access ends when the 31st does (UTC by default); JSON gives that instant.
    assert datetime.fromisoformat(data["valid_until"]) == datetime(2031, 2, 1, tzinfo=UTC)
    assert repo.get("bob@example.com").pin == data["pin"]


def test_duplicate_add_fails_with_one_line(cli: Cli, repo: CustomerRepository) -> None:
    """Adding an existing email (any case) exits non-zero with a one-line reason."""
    original = repo.add("ana@example.com", "Ana")
    failed(cli("customer", "add", "ANA@example.com", "--name", "Other"), "already exists")
    assert repo.count() == 1
    assert repo.get("ana@example.com") == original


@SQLITE_ONLY
def test_add_bad_input_fails_cleanly(cli: Cli, repo: CustomerRepository) -> None:
    """A malformed email or a PIN of the wrong length is refused; nothing is written."""
    failed(cli("customer", "add", "not-an-email"), "email")
    failed(cli("customer", "add", "ana@example.com", "--pin", "1234"), "5 digits")
    assert repo.count() == 0


def test_set_pin_to_taken_pin_names_conflict_and_changes_nothing(
    cli: Cli, repo: CustomerRepository
) -> None:
    """The "done when" conflict: non-zero, names the other customer, both PINs unchanged."""
    ana = repo.add("ana@example.com")
    bob = repo.add("bob@example.com")
    line = failed(cli("customer", "set-pin", "ana@example.com", bob.pin), "bob@example.com")
    assert bob.pin not in line
    assert repo.get("ana@example.com").pin == ana.pin
    assert repo.get("bob@example.com").pin == bob.pin
    assert repo.get("ana@example.com").pin_changed_at == ana.pin_changed_at


def test_set_pin_bad_format_fails(cli: Cli, repo: CustomerRepository) -> None:
    """A PIN that is not 5 ASCII digits exits non-zero and changes nothing."""
    ana = repo.add("ana@example.com")
    failed(cli("customer", "set-pin", "ana@example.com", "1234"), "5 digits")
    assert repo.get("ana@example.com").pin == ana.pin


def test_set_pin_from_argument_and_from_stdin(cli: Cli, repo: CustomerRepository) -> None:
    """set-pin takes the PIN as an argument or, with '-', from standard input."""
    repo.add("ana@example.com")
    result = ok(cli("customer", "set-pin", "ana@example.com", "59326"))
    assert "PIN changed for ana@example.com" in result.out
    assert repo.get("ana@example.com").pin == "59326"
    data = json.loads(
        ok(cli("--json", "customer", "set-pin", "ana@example.com", "-", stdin="40517\n")).out
    )
    assert data["pin"] == "40517"
    assert repo.get("ana@example.com").pin == "40517"
    # The old PIN is free at once.
    assert repo.add("bob@example.com", pin="59326").pin == "59326"


def test_regenerate_pin_and_history(cli: Cli, repo: CustomerRepository) -> None:
    """regenerate-pin draws a new PIN; the audit trail names the actor and never a PIN."""
    ana = repo.add("ana@example.com")
    cli.env["RADIUS_ACTOR"] = "test:cli-admin"
    data = json.loads(ok(cli("--json", "customer", "regenerate-pin", "ana@example.com")).out)
    assert data["pin"] != ana.pin and pins.is_valid_format(data["pin"])
    assert repo.get("ana@example.com").pin == data["pin"]
    history = ok(cli("--json", "customer", "history", "ana@example.com"))
    events = json.loads(history.out)
    assert [e["action"] for e in events] == ["customer.regenerate_pin", "customer.add"]
    assert events[0]["actor"] == "test:cli-admin"
    assert ana.pin not in history.out and data["pin"] not in history.out


def test_list_hides_pins_unless_asked(cli: Cli, repo: CustomerRepository) -> None:
    """list shows no PIN by default, in text or JSON; --show-pins adds them."""
    repo.add("ana@example.com", "Ana", pin="40517")
    repo.add("bob@example.com", "Bob", pin="59326")
    plain = ok(cli("customer", "list"))
    assert "ana@example.com" in plain.out and "bob@example.com" in plain.out
    assert "40517" not in plain.out and "59326" not in plain.out
    assert "2 customer(s)" in plain.out
    rows = json.loads(ok(cli("--json", "customer", "list")).out)
    assert [r["email"] for r in rows] == ["ana@example.com", "bob@example.com"]
    assert all("pin" not in r for r in rows)
    shown = ok(cli("customer", "list", "--show-pins"))
    assert "40517" in shown.out and "59326" in shown.out


def test_disable_and_enable(cli: Cli, repo: CustomerRepository) -> None:
    """disable and enable flip the active flag and keep the PIN."""
    ana = repo.add("ana@example.com")
    result = ok(cli("customer", "disable", "ana@example.com"))
    assert "updated ana@example.com" in result.out
    assert ana.pin not in result.out
    assert repo.get("ana@example.com").active is False
    data = json.loads(ok(cli("--json", "customer", "enable", "ana@example.com")).out)
    assert data["active"] is True and "pin" not in data
    assert repo.get("ana@example.com").active is True
    assert repo.get("ana@example.com").pin == ana.pin


def test_remove_then_show_fails(cli: Cli, repo: CustomerRepository) -> None:
    """After remove, show exits non-zero with a one-line reason."""
    repo.add("ana@example.com")
    assert "removed ana@example.com" in ok(cli("customer", "remove", "ana@example.com")).out
    failed(cli("customer", "show", "ana@example.com"), "no customer", "ana@example.com")
    assert repo.count() == 0


def test_nas_add_generates_and_prints_secret(cli: Cli, nas_repo: ClientRepository) -> None:
    """Without --secret a strong secret is generated and shown once; list hides it."""
    result = ok(cli("nas", "add", "ap-1", "--address", "192.0.2.10"))
    match = re.search(r"^secret\s+(\S+)$", result.out, re.MULTILINE)
    assert match is not None, result.out
    secret = match.group(1)
    assert len(secret) >= 32
    assert re.search(r"^address\s+192\.0\.2\.10/32$", result.out, re.MULTILINE)
    stored = nas_repo.get("ap-1")
    assert stored.secret == secret
    assert stored.require_message_authenticator is True
    listing = ok(cli("nas", "list"))
    assert "ap-1" in listing.out and secret not in listing.out


def test_nas_add_short_secret_warns(cli: Cli, nas_repo: ClientRepository) -> None:
    """A given short secret is kept with a warning on stderr; --json still parses."""
    result = ok(cli("--json", "nas", "add", "ap-2", "--address", "10.0.0.0/8", "--secret", "short"))
    assert "warning:" in result.err and "shorter than 16" in result.err
    data = json.loads(result.out)
    assert data["secret"] == "short" and data["address"] == "10.0.0.0/8"
    assert nas_repo.get("ap-2").secret == "short"


@SQLITE_ONLY
def test_nas_add_bad_address_fails(cli: Cli, nas_repo: ClientRepository) -> None:
    """Host bits set or not an address: non-zero, one line, nothing stored."""
    failed(cli("nas", "add", "ap-1", "--address", "10.0.0.1/8"), "10.0.0.0/8")
    failed(cli("nas", "add", "ap-1", "--address", "access-point.local"), "access-point.local")
    assert nas_repo.find() == []


def test_db_status(cli: Cli, shared_db_url: str) -> None:
    """db status reports the back end and that the schema is current."""
    data = json.loads(ok(cli("--json", "db", "status")).out)
    assert data["up_to_date"] is True
    assert data["revision"] == data["head"]
    assert data["backend"] == ("sqlite" if shared_db_url.startswith("sqlite") else "postgresql")


def test_postgresql_needs_explicit_upgrade(pg_url: str, tmp_path: Path) -> None:
    """On an empty PostgreSQL, commands refuse with a hint until ``db upgrade`` runs."""
    cli = Cli(pg_url, tmp_path)
    failed(cli("customer", "list"), "db upgrade")
    status = cli("db", "status")
    assert status.code == 1 and "upgrade" in status.out
    assert "revision" in ok(cli("db", "upgrade")).out
    assert "0 customer(s)" in ok(cli("customer", "list")).out


def test_sqlite_migrates_itself(tmp_path: Path) -> None:
    """An existing SQLite file at an older schema needs no explicit upgrade."""
    from radius_server.store import database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine, "0001")
    engine.dispose()
    result = ok(Cli(url, tmp_path)("customer", "add", "ana@example.com"))
    assert PIN_LINE.search(result.out)


def test_bad_setting_exits_2_naming_it(sqlite_cli: Cli) -> None:
    """RADIUS_AUTH_PORT=notaport stops the program with exit 2 and the setting's name."""
    sqlite_cli.env["RADIUS_AUTH_PORT"] = "notaport"
    result = sqlite_cli("customer", "list")
    assert result.code == 2
    assert "Traceback" not in result.err
    assert "RADIUS_AUTH_PORT" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_bad_config_file_exits_2(sqlite_cli: Cli, tmp_path: Path) -> None:
    """A missing --config file and an unknown setting in it both exit 2, naming the cause."""
    missing = tmp_path / "missing.toml"
    result = sqlite_cli("--config", str(missing), "customer", "list")
    assert result.code == 2 and str(missing) in result.err and "Traceback" not in result.err
    typo = tmp_path / "typo.toml"
    typo.write_text("[smtp]\nhots = 'mail'\n", encoding="utf-8")
    result = sqlite_cli("--config", str(typo), "customer", "list")
    assert result.code == 2 and "smtp_hots" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    "argv",
    [
        ("bogus",),
        ("customer", "set-pin", "ana@example.com"),
    ],
)
def test_usage_errors_exit_2(sqlite_cli: Cli, argv: tuple[str, ...]) -> None:
    """Unknown commands and missing arguments are usage errors (exit 2)."""
    result = sqlite_cli(*argv)
    assert result.code == 2
    assert "Traceback" not in result.err
    assert "usage:" in result.err


# ------------------------------------------------------------------ hostile admin input (issue 10)

ESCAPES = ("\x1b", "\x07", "\x00", "\u202e")


def test_long_or_control_name_fails_with_one_line(cli: Cli, repo: CustomerRepository) -> None:
    """A 300-character name (PostgreSQL refused it with a traceback) or ESC: one line, no row."""
    failed(cli("customer", "add", "ana@example.com", "--name", "x" * 300), "longer than 200")
    line = failed(
        cli("customer", "add", "ana@example.com", "--name", "Ana\x1b]0;owned\x07"),
        "control character",
    )
    assert "\\x1b" in line and not any(char in line for char in ESCAPES)
    assert repo.count() == 0
    repo.add("ana@example.com", "Ana")
    failed(cli("customer", "update", "ana@example.com", "--name", "y" * 201), "longer than 200")
    assert repo.get("ana@example.com").full_name == "Ana"


def test_list_show_and_history_escape_stored_controls(
    cli: Cli, repo: CustomerRepository, clean_db_url: str
) -> None:
    """Rows written before the rule, and an actor from the environment, print escaped."""
    from sqlalchemy import update

    from radius_server.store.models import Customer

    repo.add("ana@example.com", "Ana")
    engine = database.make_engine(clean_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(Customer).values(full_name="Ana\x1b[2J\x07\u202eX\nfake"))
    finally:
        engine.dispose()
    cli.env["RADIUS_ACTOR"] = "admin\x1b[31m\x07" + "z" * 300
    ok(cli("customer", "disable", "ana@example.com"))
    for argv in (
        ("customer", "list"),
        ("customer", "show", "ana@example.com"),
        ("customer", "history"),
    ):
        result = ok(cli(*argv))
        assert not any(char in result.out for char in ESCAPES), argv
        assert "\\x1b" in result.out, argv
    listing = ok(cli("customer", "list")).out.splitlines()
    assert len(listing) == 3  # heading, ana on one line, the count


def test_search_percent_matches_only_percent(cli: Cli, repo: CustomerRepository) -> None:
    """customer list --search % lists the names holding a %, not everyone."""
    repo.add("ana@example.com", "Ana")
    repo.add("cy@example.com", "100% Cy")
    result = ok(cli("--json", "customer", "list", "--search", "%"))
    assert [row["email"] for row in json.loads(result.out)] == ["cy@example.com"]


def test_secrets_and_pins_from_stdin_or_a_file(
    cli: Cli, repo: CustomerRepository, nas_repo: ClientRepository, tmp_path: Path
) -> None:
    """Every command taking a PIN or a secret reads it from stdin or a file; --help says why."""
    secret = "Stdin-Secret-0123456789abcdef"
    ok(cli("nas", "add", "ap-1", "--address", "192.0.2.10", "--secret", "-", stdin=secret + "\n"))
    assert nas_repo.get("ap-1").secret == secret
    path = tmp_path / "secret.txt"
    path.write_text("File-Secret-0123456789abcdef\n", encoding="utf-8")
    ok(cli("nas", "set-secret", "ap-1", "--secret-file", str(path)))
    assert nas_repo.get("ap-1").secret == "File-Secret-0123456789abcdef"
    ok(cli("nas", "add", "ap-2", "--address", "192.0.2.11", "--secret-file", str(path)))
    assert nas_repo.get("ap-2").secret == "File-Secret-0123456789abcdef"
    line = failed(cli("nas", "set-secret", "ap-1", "--secret-file", str(tmp_path / "none")))
    assert "cannot read" in line
    ok(cli("customer", "add", "ana@example.com", "--pin", "-", stdin="48213\n"))
    assert repo.get("ana@example.com").pin == "48213"
    for argv in (
        ("nas", "add", "--help"),
        ("nas", "set-secret", "--help"),
        ("customer", "add", "--help"),
        ("customer", "set-pin", "--help"),
        ("test", "--help"),
    ):
        assert re.search(r"\bin ps\b", ok(cli(*argv)).out), argv


def test_a_database_refusal_never_prints_the_pin(
    clean_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A unique violation nothing foresaw (PostgreSQL's text quotes the key): one line, no PIN."""
    from sqlalchemy import insert

    from radius_server.cli import main
    from radius_server.store.models import Customer

    engine = database.make_engine(clean_db_url)
    row = {"email": "ana@example.com", "full_name": "", "pin": "48213"}
    with engine.begin() as conn:
        conn.execute(insert(Customer), row)

    def racing_add(*_args: object, **_kwargs: object) -> None:
        with engine.begin() as conn:
            conn.execute(insert(Customer), {**row, "email": "bob@example.com"})

    monkeypatch.setenv("RADIUS_DATABASE_URL", clean_db_url)
    monkeypatch.setenv("RADIUS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RADIUS_LOG_FORMAT", "json")
    monkeypatch.delenv("RADIUS_CONFIG", raising=False)
    monkeypatch.setattr(CustomerRepository, "add", racing_add)
    # main() would point structlog at pytest's captured stderr, closed after this test.
    monkeypatch.setattr("radius_server.cli.configure_logging", lambda *_a, **_k: None)
    try:
        code = main(["customer", "add", "bob@example.com"])
    finally:
        engine.dispose()
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("error: the database refused the change (")
    assert len(captured.err.strip().splitlines()) == 1
    assert "48213" not in captured.err + captured.out


def test_probe_escapes_the_reply_message(capsys: pytest.CaptureFixture[str]) -> None:
    """``test`` prints a Reply-Message from the wire with its control characters escaped."""
    import struct
    import time
    from types import SimpleNamespace

    from radius_server.cli import probe
    from radius_server.protocol import codes as c

    text = b"Welcome\x1b]0;owned\x07\x1b[2J\nroot# "
    attribute = bytes([c.REPLY_MESSAGE, len(text) + 2]) + text
    reply = struct.pack("!BBH", c.Code.ACCESS_ACCEPT, 7, 20 + len(attribute)) + bytes(16)
    ctx = SimpleNamespace(json_output=False)
    code = probe._report(ctx, reply + attribute, time.perf_counter())  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert code == probe.EXIT_ACCEPT
    assert out.startswith("Access-Accept in ") and "Welcome\\x1b]0;owned\\x07" in out
    assert out.count("\n") == 1 and "\x1b" not in out and "\x07" not in out


def test_lockout_list_escapes_user_names_from_the_wire(cli: Cli, clean_db_url: str) -> None:
    """A User-Name crafted with terminal controls is listed escaped."""
    import time

    from radius_server.rules.throttle import EventKind, ThrottleEvent
    from radius_server.store.throttle_log import ThrottleLog

    engine = database.make_engine(clean_db_url)
    try:
        log = ThrottleLog(database.make_session_factory(engine), "server-1")
        user = "evil\x1b]0;owned\x07\x1b[2J@example.com"
        log.append([ThrottleEvent(EventKind.FAILURE, time.time(), user, "aa\x1b[31m")])
    finally:
        engine.dispose()
    result = ok(cli("lockout", "list"))
    assert "evil\\x1b]0;owned\\x07\\x1b[2J@example.com" in result.out
    assert not any(char in result.out for char in ESCAPES)


# --- papercuts from a new user's walk (issue 9) -------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("test", "ana@example.com", "12345", "--server", "127.0.0.1:99999"), "'99999'"),
        (("test", "ana@example.com", "12345", "--server", "127.0.0.1:0"), "'0'"),
        (("test", "ana@example.com", "12345", "--server", "[::1]:port"), "'port'"),
        (("test", "ana@example.com", "12345", "--server", "[::1"), "[::1"),
        (("serve", "--auth-port", "70000"), "'70000'"),
        (("serve", "--acct-port", "-5"), "'-5'"),
        (("demo", "--no-serve", "--auth-port", "1812x"), "'1812x'"),
    ],
)
def test_a_bad_port_is_a_usage_error(sqlite_cli: Cli, argv: tuple[str, ...], needle: str) -> None:
    """Every option taking a port refuses a bad one with exit 2 and one line, no traceback."""
    result = sqlite_cli(*argv)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    last = result.err.strip().splitlines()[-1]
    assert "error:" in last and needle in last


def test_test_needs_a_port_to_send_to(sqlite_cli: Cli) -> None:
    """With auth_port = 0 (serve on any free port) `test` asks for --server, no traceback."""
    sqlite_cli.env["RADIUS_AUTH_PORT"] = "0"
    result = sqlite_cli("test", "ana@example.com", "12345", "--secret", "s3cret")
    assert result.code == 2
    failed(result, "give --server HOST:PORT")


def test_a_port_in_use_is_named_with_its_address(sqlite_cli: Cli) -> None:
    """ "Address already in use" says which address and port: serve with one worker or
    several, and demo (what ./run.sh runs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        for command, extra in (("serve", ()), ("serve", ("--workers", "2")), ("demo", ())):
            result = sqlite_cli(
                command, "--host", "127.0.0.1", "--auth-port", "0", "--acct-port", str(port), *extra
            )
            assert result.code == 1
            line = failed(result, f"127.0.0.1:{port}", "in use")
            assert line.startswith("error: cannot listen on")


def test_check_config_prints_the_database_error(sqlite_cli: Cli) -> None:
    """Not only the exception's class: the driver's reason."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sqlite_cli.env["RADIUS_DATABASE_URL"] = f"postgresql+psycopg://radius:pw@127.0.0.1:{port}/x"
    result = sqlite_cli("check-config")
    assert result.code == 1 and "Traceback" not in result.err
    line = next(x for x in result.err.splitlines() if "database unreachable" in x)
    assert "OperationalError: connection failed" in line and f"port {port}" in line
    assert "pw" not in line


@SQLITE_ONLY
def test_json_goes_before_or_after_the_sub_command(cli: Cli, repo: CustomerRepository) -> None:
    """`customer list --json` and `--json customer list` print the same JSON."""
    repo.add("ana@example.com", "Ana")
    before = json.loads(ok(cli("--json", "customer", "list")).out)
    after = json.loads(ok(cli("customer", "list", "--json")).out)
    between = json.loads(ok(cli("customer", "--json", "list")).out)
    assert before == after == between
    assert [row["email"] for row in after] == ["ana@example.com"]


@pytest.mark.parametrize(
    ("argv", "env", "code", "needle"),
    [
        (("customer", "show", "nobody@example.com", "--json"), {}, 1, "no customer"),
        (("--json", "bogus"), {}, 2, "invalid choice"),
        (("customer", "list", "--wifi", "maybe", "--json"), {}, 2, "yes/no"),
        (("customer", "add", "ana@example.com", "--valid-until", "", "--json"), {}, 2, "empty"),
        (("test", "a@example.com", "1", "--server", "h:99999", "--json"), {}, 2, "99999"),
        (("customer", "list", "--json"), {"RADIUS_AUTH_PORT": "x"}, 2, "RADIUS_AUTH_PORT"),
        (("pin", "remind", "--json"), {}, 2, "--all"),
        (("customer", "import", "/nonexistent/members.csv", "--json"), {}, 1, "cannot read"),
    ],
)
def test_under_json_an_error_is_a_json_object(
    sqlite_cli: Cli, argv: tuple[str, ...], env: dict[str, str], code: int, needle: str
) -> None:
    """Errors of every kind (usage, settings, store, command) are JSON on stdout, same exit."""
    sqlite_cli.env.update(env)
    result = sqlite_cli(*argv)
    assert result.code == code
    assert "Traceback" not in result.err
    data = json.loads(result.out)
    assert needle in data["error"]
    assert data["exit_code"] == code
    assert "usage:" not in result.err


def test_unknown_radius_variable_gets_a_warning(sqlite_cli: Cli) -> None:
    """A typo in a RADIUS_* variable is named on stderr; the command still runs."""
    sqlite_cli.env["RADIUS_DATABSE_URL"] = "sqlite:///elsewhere.db"
    result = ok(sqlite_cli("customer", "list"))
    assert (
        "warning: environment variable RADIUS_DATABSE_URL "
        "(did you mean RADIUS_DATABASE_URL?) is not a setting: ignored"
    ) in result.err


@SQLITE_ONLY
def test_setting_the_same_pin_says_unchanged_and_writes_no_history(
    cli: Cli, repo: CustomerRepository
) -> None:
    """No "PIN changed", no audit entry, the previous PIN kept as it was."""
    ana = repo.add("ana@example.com", pin="48213")
    history = cli("--json", "customer", "history", "ana@example.com")
    before = json.loads(ok(history).out)
    result = ok(cli("customer", "set-pin", "ana@example.com", "48213"))
    assert "PIN unchanged for ana@example.com" in result.out
    assert "PIN changed" not in result.out
    data = json.loads(ok(cli("customer", "set-pin", "ana@example.com", "48213", "--json")).out)
    assert data["changed"] is False and data["pin"] == "48213"
    after = json.loads(ok(cli("--json", "customer", "history", "ana@example.com")).out)
    assert after == before
    assert repo.get("ana@example.com") == ana


@SQLITE_ONLY
def test_an_empty_valid_until_is_refused(cli: Cli, repo: CustomerRepository) -> None:
    """`--valid-until ''` used to be ignored silently; --clear-valid-until removes a date."""
    repo.add("ana@example.com", valid_until=datetime(2031, 2, 1, tzinfo=UTC))
    for option in ("--valid-until", "--valid-from"):
        result = cli("customer", "update", "ana@example.com", option, "")
        assert result.code == 2
        assert "--clear-valid-until" in result.err and "Traceback" not in result.err
    assert repo.get("ana@example.com").valid_until == datetime(2031, 2, 1, tzinfo=UTC)


@SQLITE_ONLY
def test_dates_are_whole_days_in_the_space_timezone(cli: Cli, repo: CustomerRepository) -> None:
    """In Europe/Berlin, 2027-03-01..2027-03-28 (a DST day) runs 23:00 UTC to 22:00 UTC."""
    cli.env["RADIUS_TIMEZONE"] = "Europe/Berlin"
    ok(
        cli(
            "customer",
            "add",
            "ana@example.com",
            "--valid-from",
            "2027-03-01",
            "--valid-until",
            "2027-03-28",
        )
    )
    ana = repo.get("ana@example.com")
    assert ana.valid_from == datetime(2027, 2, 28, 23, tzinfo=UTC)
    assert ana.valid_until == datetime(2027, 3, 28, 22, tzinfo=UTC)
    # People see the days they typed; JSON gives the instants.
    shown = ok(cli("customer", "show", "ana@example.com")).out
    assert re.search(r"^valid_from\s+2027-03-01$", shown, re.MULTILINE)
    assert re.search(r"^valid_until\s+2027-03-28$", shown, re.MULTILINE)
    listed = ok(cli("customer", "list")).out
    assert "2027-03-28" in listed
    cli.env["RADIUS_TIMEZONE"] = "Mars/Olympus"
    failed(cli("customer", "list"), "timezone")
