"""The server over real UDP on loopback, driven by radtest/radclient (Debian freeradius-utils)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request, verify_reply
from tests.conftest import (
    Cli,
    create_pg_database,
    drop_pg_database,
    require_tool,
    skip_or_fail,
)
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.udp_client import SECRET, send
from tests.integration.udp_client import pin_of as _pin
from tests.unit.engine_harness import tampered


@dataclass
class Site:
    """A running server plus the CLI on the same database, and a member's PIN."""

    server: ServerProcess
    cli: Cli
    pin: str
    email: str = "ana@example.com"


def _setup(cli: Cli) -> str:
    assert cli("nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com", "--name", "Ana").code == 0
    assert cli("customer", "add", "bob@example.com", "--name", "Bob").code == 0
    assert cli("customer", "disable", "bob@example.com").code == 0
    return _pin(cli, "ana@example.com")


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """A server with one access point (127.0.0.1) and two members.

    On SQLite, or on each back end for the tests marked ``@ON_BOTH_BACKENDS``.
    """
    backend = getattr(request, "param", "sqlite")
    admin = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    url = create_pg_database(admin) if admin else f"sqlite:///{tmp_path / 'radius.db'}"
    try:
        cli = Cli(url, tmp_path)
        if admin:
            # SQLite migrates itself; PostgreSQL is upgraded by the operator (README).
            upgraded = cli("db", "upgrade")
            assert upgraded.code == 0, upgraded.err
        pin = _setup(cli)
        with running_server(url, tmp_path / "data") as server:
            yield Site(server, cli, pin)
    finally:
        if admin:
            drop_pg_database(admin, url)


# The core end-to-end cases run on PostgreSQL (production) as well as SQLite.
ON_BOTH_BACKENDS = pytest.mark.parametrize("site", ["sqlite", "postgresql"], indirect=True)


def radtest(site: Site, user: str, pin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run Debian's radtest against the site's server."""
    tool = require_tool("radtest")
    return subprocess.run(
        [tool, *extra, user, pin, f"127.0.0.1:{site.server.auth_port}", "0", SECRET],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def radclient(
    port: int, command: str, attributes: str, secret: str = SECRET, host: str = "127.0.0.1"
) -> subprocess.CompletedProcess[str]:
    """Run radclient once (one try, one second) with the given attribute list."""
    tool = require_tool("radclient")
    return subprocess.run(
        [tool, "-x", "-r", "1", "-t", "1", f"{host}:{port}", command, secret],
        input=attributes,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@ON_BOTH_BACKENDS
def test_pap_accept(site: Site) -> None:
    """A member with the right PIN gets Access-Accept; the log line says why, without the PIN."""
    result = radtest(site, "ana@example.com", site.pin)
    assert result.returncode == 0, result.stdout
    assert "Access-Accept" in result.stdout
    line = site.server.wait_for("access", reason="ok")
    assert line["outcome"] == "accept" and line["method"] == "pap"
    assert line["user"] == "ana@example.com" and line["client"] == "loopback"
    assert site.pin not in site.server.output()
    assert SECRET not in site.server.output()


def test_email_is_trimmed_and_case_insensitive(site: Site) -> None:
    """Members type their email as they like."""
    result = radtest(site, " Ana@Example.COM ", site.pin)
    assert "Access-Accept" in result.stdout


@ON_BOTH_BACKENDS
def test_wrong_pin_rejected_with_generic_message(site: Site) -> None:
    """A wrong PIN and an unknown email get the same reply message."""
    wrong = f"{(int(site.pin) + 1) % 100000:05d}"
    result = radtest(site, "ana@example.com", wrong)
    unknown = radtest(site, "nobody@example.com", wrong)
    assert result.returncode != 0 and "Access-Reject" in result.stdout
    assert "Access-Reject" in unknown.stdout
    message = [ln for ln in result.stdout.splitlines() if "Reply-Message" in ln]
    assert message and message == [
        ln for ln in unknown.stdout.splitlines() if "Reply-Message" in ln
    ]
    site.server.wait_for("access", reason="wrong_pin", user="ana@example.com")
    site.server.wait_for("access", reason="unknown_user")
    assert wrong not in site.server.output()


def test_disabled_customer_rejected(site: Site) -> None:
    """A disabled member is rejected even with the right PIN; the log says inactive."""
    result = radtest(site, "bob@example.com", _pin(site.cli, "bob@example.com"))
    assert "Access-Reject" in result.stdout
    site.server.wait_for("access", reason="inactive", user="bob@example.com")


@ON_BOTH_BACKENDS
def test_chap_accept_and_reject(site: Site) -> None:
    """CHAP with the request authenticator as challenge."""
    assert "Access-Accept" in radtest(site, "ana@example.com", site.pin, "-t", "chap").stdout
    wrong = f"{(int(site.pin) + 7) % 100000:05d}"
    assert "Access-Reject" in radtest(site, "ana@example.com", wrong, "-t", "chap").stdout
    site.server.wait_for("access", method="chap", reason="wrong_pin")


@pytest.mark.parametrize("required", [True, False], ids=["ma-required", "ma-optional"])
def test_wrong_secret_never_accepted(site: Site, required: bool) -> None:
    """A NAS with the wrong secret gets no answer (Message-Authenticator fails): dropped.

    Also when the client may omit Message-Authenticator: "optional" means it may be
    absent, never that a wrong one passes (the PIN, decrypted with the wrong secret,
    would otherwise get a reject as bad_pin_format).
    """
    if not required:
        _allow_missing_message_authenticator(site)
    result = radclient(
        site.server.auth_port,
        "auth",
        f'User-Name = "ana@example.com", User-Password = "{site.pin}", '
        "Message-Authenticator = 0x00",
        secret="not-the-right-secret",
    )
    assert "Access-Accept" not in result.stdout
    assert result.returncode != 0
    site.server.wait_for("access", reason="bad_authenticator", outcome="drop")


def test_missing_message_authenticator_dropped(site: Site) -> None:
    """BlastRADIUS default: an Access-Request without Message-Authenticator is dropped."""
    result = radclient(
        site.server.auth_port,
        "auth",
        f'User-Name = "ana@example.com", User-Password = "{site.pin}"',
    )
    assert "No reply" in result.stdout + result.stderr
    site.server.wait_for("access", reason="missing_message_authenticator", outcome="drop")


def _allow_missing_message_authenticator(site: Site) -> None:
    """Let the loopback client omit Message-Authenticator (old equipment), live."""
    assert site.cli("nas", "update", "loopback", "--require-message-authenticator", "no").code == 0
    site.server.wait_for("client_updated", client="loopback")


def test_message_authenticator_optional_per_client(site: Site) -> None:
    """Equipment that cannot send it can be allowed, per client, without a restart."""
    _allow_missing_message_authenticator(site)
    result = radclient(
        site.server.auth_port,
        "auth",
        f'User-Name = "ana@example.com", User-Password = "{site.pin}"',
    )
    assert "Access-Accept" in result.stdout


@ON_BOTH_BACKENDS
def test_status_server_answered(site: Site) -> None:
    """RFC 5997 Status-Server gets Access-Accept on the auth port."""
    result = radclient(site.server.auth_port, "status", "Message-Authenticator = 0x00")
    assert result.returncode == 0 and "Access-Accept" in result.stdout


@ON_BOTH_BACKENDS
def test_accounting_acknowledged_and_logged(site: Site) -> None:
    """Accounting-Request gets Accounting-Response and one accounting log line."""
    result = radclient(
        site.server.acct_port,
        "acct",
        'Acct-Status-Type = Start, Acct-Session-Id = "s-1", User-Name = "ana@example.com"',
    )
    assert result.returncode == 0 and "Accounting-Response" in result.stdout
    line = site.server.wait_for("accounting", session_id="s-1")
    assert line["status_type"] == "start"


def test_retransmission_answered_from_cache(site: Site) -> None:
    """Same source port, identifier and authenticator: identical reply, one decision."""
    wrong = f"{(int(site.pin) + 3) % 100000:05d}"
    request = encode_request(
        SECRET.encode(), identifier=77, user_name="ana@example.com", password=wrong.encode()
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.bind(("127.0.0.1", 0))
        replies = []
        for _ in range(3):
            sock.sendto(request.packet, ("127.0.0.1", site.server.auth_port))
            replies.append(sock.recv(4096))
    assert replies[0] == replies[1] == replies[2]
    assert replies[0][0] == c.Code.ACCESS_REJECT
    assert verify_reply(replies[0], request.authenticator, SECRET.encode(), identifier=77)
    # The retransmission lines come after the decision's: once both are in, it is complete.
    assert len(site.server.find("retransmission", at_least=2, identifier=77)) == 2
    assert len(site.server.find("access", identifier=77)) == 1


def test_malformed_packets_never_stop_the_server(site: Site) -> None:
    """Garbage, truncations and bad lengths are dropped and logged; service goes on."""
    good = encode_request(
        SECRET.encode(), identifier=5, user_name="ana@example.com", password=site.pin.encode()
    ).packet
    bad_packets = [
        b"\x01",
        b"\x01\x02\x00\x10" + bytes(16),
        good[:4] + good[4:20] + b"\x01\x00",
        good[:2] + b"\x20\x00" + good[4:],  # Length 8192
        good[:-3],
        bytes(range(256)) * 20,
    ]
    for packet in bad_packets:
        assert send(site.server.auth_port, packet, timeout=0.3) is None
    site.server.wait_for("access", reason="malformed")
    reply = send(site.server.auth_port, good)
    assert reply is not None and reply[0] == c.Code.ACCESS_ACCEPT


def test_sigterm_stops_gracefully(site: Site) -> None:
    """SIGTERM: exit status 0 and a server_stopped event."""
    assert site.server.stop() == 0
    assert site.server.find("server_stopped")


def test_unknown_client_dropped_then_added_live(sqlite_url: str, tmp_path: Path) -> None:
    """No client for 127.0.0.1: no answer and a rate-limited log; adding one works live."""
    cli = Cli(sqlite_url, tmp_path)
    assert cli("nas", "add", "elsewhere", "--address", "192.0.2.0/24", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com").code == 0
    pin = _pin(cli, "ana@example.com")
    with running_server(sqlite_url, tmp_path / "data") as server:
        for _ in range(3):
            result = radclient(
                server.auth_port,
                "auth",
                f'User-Name = "ana@example.com", User-Password = "{pin}", '
                "Message-Authenticator = 0x00",
            )
            assert "Access-Accept" not in result.stdout
        assert (
            cli("nas", "add", "loopback", "--address", "127.0.0.0/8", "--secret", SECRET).code == 0
        )
        server.wait_for("client_updated", client="loopback")
        # Logged after the three requests, so their lines are all in by now.
        warnings = server.find("unknown_client", client_address="127.0.0.1")
        assert len(warnings) == 1  # the next ones are counted, not logged
        result = radclient(
            server.auth_port,
            "auth",
            f'User-Name = "ana@example.com", User-Password = "{pin}", Message-Authenticator = 0x00',
        )
        assert "Access-Accept" in result.stdout


def test_most_specific_client_wins(sqlite_url: str, tmp_path: Path) -> None:
    """A /32 entry beats the /8 covering it: its secret is the one that verifies."""
    cli = Cli(sqlite_url, tmp_path)
    assert cli("nas", "add", "wide", "--address", "127.0.0.0/8", "--secret", "w" * 20).code == 0
    assert cli("nas", "add", "exact", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com").code == 0
    pin = _pin(cli, "ana@example.com")
    with running_server(sqlite_url, tmp_path / "data") as server:
        result = radclient(
            server.auth_port,
            "auth",
            f'User-Name = "ana@example.com", User-Password = "{pin}", Message-Authenticator = 0x00',
        )
        assert "Access-Accept" in result.stdout
        assert server.wait_for("access", reason="ok")["client"] == "exact"


def test_ipv6_loopback(sqlite_url: str, tmp_path: Path) -> None:
    """The server answers over IPv6 for a client registered by IPv6 address."""
    if not socket.has_ipv6:
        skip_or_fail("no IPv6 on this machine")
    cli = Cli(sqlite_url, tmp_path)
    assert cli("nas", "add", "v6", "--address", "::1", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com").code == 0
    pin = _pin(cli, "ana@example.com")
    with running_server(sqlite_url, tmp_path / "data", "--host", "::1") as server:
        result = radclient(
            server.auth_port,
            "auth",
            f'User-Name = "ana@example.com", User-Password = "{pin}", Message-Authenticator = 0x00',
            host="[::1]",
        )
        assert "Access-Accept" in result.stdout, result.stdout + result.stderr


def test_workers_share_the_ports_and_stop_together(sqlite_url: str, tmp_path: Path) -> None:
    """serve --workers 2: both answer on one port; a plain second server still fails loudly."""
    cli = Cli(sqlite_url, tmp_path)
    assert cli("nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", "ana@example.com").code == 0
    pin = _pin(cli, "ana@example.com")
    with running_server(sqlite_url, tmp_path / "data", "--workers", "2") as server:
        assert len(server.wait_for_all("server_started", 2)) == 2
        for _ in range(20):
            request = encode_request(
                SECRET.encode(), identifier=1, user_name="ana@example.com", password=pin.encode()
            )
            reply = send(server.auth_port, request.packet)
            assert reply is not None and reply[0] == c.Code.ACCESS_ACCEPT
        second = cli(
            "serve", "--host", "127.0.0.1", "--auth-port", str(server.auth_port), "--acct-port", "0"
        )
        assert second.code != 0 and "Address already in use" in second.err
        assert server.stop() == 0
    assert len(server.find("server_stopped")) == 2


def test_probe_reads_pin_and_secret_from_stdin_or_files(site: Site, tmp_path: Path) -> None:
    """``test`` takes the PIN and the secret from stdin or files: nothing secret in ps."""
    server = f"127.0.0.1:{site.server.auth_port}"
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(site.pin + "\n", encoding="utf-8")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    by_stdin = site.cli(
        "test", site.email, "-", "--secret-file", str(secret_file), "--server", server,
        stdin=site.pin + "\n",
    )  # fmt: skip
    assert by_stdin.code == 0 and "Access-Accept" in by_stdin.out, by_stdin.err
    by_file = site.cli(
        "test", site.email, "--pin-file", str(pin_file), "--secret", "-", "--server", server,
        stdin=SECRET + "\n",
    )  # fmt: skip
    assert by_file.code == 0 and "Access-Accept" in by_file.out, by_file.err
    both = site.cli("test", site.email, "-", "--secret", "-", "--server", server, stdin="x\n")
    assert both.code == 2 and "only one of" in both.err and "Traceback" not in both.err
    huge = site.cli("test", site.email, "9" * 200, "--secret", SECRET, "--server", server)
    assert huge.code == 2 and "Traceback" not in huge.err and "9" * 200 not in huge.err


def test_wrong_message_authenticator_dropped_when_not_required(site: Site) -> None:
    """The right secret and PIN, one bit of the Message-Authenticator flipped: dropped."""
    _allow_missing_message_authenticator(site)
    request = encode_request(
        SECRET.encode(), identifier=88, user_name="ana@example.com", password=site.pin.encode()
    )
    assert send(site.server.auth_port, tampered(request.packet), timeout=0.5) is None
    site.server.wait_for("access", reason="bad_authenticator", identifier=88)
    assert not site.server.find("access", reason="ok")


# Long enough that a reply arriving before it was sent early; short enough to wait for.
REJECT_DELAY = 1.0
# asyncio may run a timer up to its clock's resolution early; allow far more than that.
TIMER_SLACK = 0.005


def test_reject_delay_is_not_skipped_by_sending_twice(sqlite_url: str, tmp_path: Path) -> None:
    """A guess sent twice at once gets one reply, no sooner than reject_delay; later copies
    get the same bytes from the cache, and only one decision is made."""
    cli = Cli(sqlite_url, tmp_path)
    pin = _setup(cli)
    wrong = f"{(int(pin) + 5) % 100000:05d}"
    request = encode_request(
        SECRET.encode(), identifier=91, user_name="ana@example.com", password=wrong.encode()
    )
    env = {"RADIUS_REJECT_DELAY": str(REJECT_DELAY)}
    with (
        running_server(sqlite_url, tmp_path / "data", **env) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(30)
        target = ("127.0.0.1", server.auth_port)
        sent = time.monotonic()
        sock.sendto(request.packet, target)
        sock.sendto(request.packet, target)  # the duplicate, while the reject is held
        first = sock.recv(4096)
        waited = time.monotonic() - sent
        server.wait_for("retransmission", identifier=91, answered=False)
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4096)  # the held duplicate never gets a reply of its own
        sock.settimeout(30)
        sock.sendto(request.packet, target)  # after the original: from the cache
        again = sock.recv(4096)
    assert waited >= REJECT_DELAY - TIMER_SLACK
    assert first == again and first[0] == c.Code.ACCESS_REJECT
    assert verify_reply(first, request.authenticator, SECRET.encode(), identifier=91)
    assert len(server.find("access", identifier=91)) == 1
    assert server.find("retransmission", identifier=91, answered=True)


def test_stop_sends_delayed_rejects_first(sqlite_url: str, tmp_path: Path) -> None:
    """SIGTERM with a reject still held: it is sent before the server exits (status 0)."""
    cli = Cli(sqlite_url, tmp_path)
    pin = _setup(cli)
    wrong = f"{(int(pin) + 9) % 100000:05d}"
    request = encode_request(
        SECRET.encode(), identifier=92, user_name="ana@example.com", password=wrong.encode()
    )
    # Far longer than the test: a reply can only come from the flush at shutdown.
    env = {"RADIUS_REJECT_DELAY": "600"}
    with (
        running_server(sqlite_url, tmp_path / "data", **env) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sock.bind(("127.0.0.1", 0))
        sock.sendto(request.packet, ("127.0.0.1", server.auth_port))
        server.wait_for("access", identifier=92, reason="wrong_pin")
        assert server.stop() == 0
        sock.settimeout(5)  # the process has exited: the reply is already here
        reply = sock.recv(4096)
    assert reply[0] == c.Code.ACCESS_REJECT
    assert verify_reply(reply, request.authenticator, SECRET.encode(), identifier=92)
    assert server.find("server_stopped")
