"""PIN reminders against a real SMTP server in the test process (aiosmtpd on 127.0.0.1).

The commands run through the real console script (``cli`` on SQLite and
PostgreSQL, ``sqlite_cli`` where the database does not matter); the SMTP
sender is also driven directly where a fake clock or a dropped connection is
the point.
"""

from __future__ import annotations

import asyncio
import email
import ipaddress
import json
import shlex
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from radius_server.mail.message import build_message, mailbox
from radius_server.mail.sender import SmtpConfig, SmtpSender, TokenBucket
from radius_server.mail.template import Rendered
from tests.conftest import Cli, CliResult
from tests.unit.test_mail_template import FakeClock

SENDER = "desk@hive.example"
SMTP_USER = "desk"
SMTP_PASSWORD = "s3cret-Smtp-pass"
# email, name, PIN
MEMBERS = [
    ("ana@example.com", "Ana Lima", "40517"),
    ("bob@example.com", "Bob Stone", "51234"),
    ("cy@example.com", "", "62345"),
]
PINS = {email_: pin for email_, _, pin in MEMBERS}


# --- a real SMTP server -------------------------------------------------------------------


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    peer: Any
    tls: bool
    authenticated: bool


@dataclass
class Collector:
    """aiosmtpd handler: keeps every message; refuses the addresses in ``refuse`` with 550."""

    refuse: set[str] = field(default_factory=set)
    drop_after_message: bool = False
    received: list[Received] = field(default_factory=list)
    ehlos: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.ehlos += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Line ends as a mailbox would store them, so bodies compare with "\n".
        content = envelope.content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    session.peer,
                    server.transport.get_extra_info("ssl_object") is not None,
                    bool(session.authenticated),
                )
            )
        if self.drop_after_message:
            # Like a server closing an idle connection: the next message must reconnect.
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 2.0.0 Message accepted"

    def to(self, address: str) -> Received:
        """The one message received for ``address``."""
        found = [r for r in self.received if r.rcpt_tos == [address]]
        assert len(found) == 1, [r.rcpt_tos for r in self.received]
        return found[0]


@dataclass
class Smtp:
    """A running test server."""

    port: int
    handler: Collector


def free_port() -> int:
    """A TCP port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Smtp]]:
    """Start aiosmtpd servers on 127.0.0.1 (free port); all stopped after the test."""
    started: list[Controller] = []

    def start(handler: Collector | None = None, **kwargs: Any) -> Smtp:
        handler = handler or Collector()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return Smtp(controller.port, handler)

    yield start
    for controller in started:
        controller.stop()


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for 127.0.0.1 and localhost."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """What the test server presents."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """Generate the certificate with ``cryptography`` (no openssl binary needed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "radius-server test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Tls(cert_path, key_path)


def check_login(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
) -> AuthResult:
    """aiosmtpd authenticator: only desk / SMTP_PASSWORD."""
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    # handled=False: aiosmtpd then answers 535 itself instead of leaving it to us.
    return AuthResult(success=ok, handled=False)


# --- helpers ------------------------------------------------------------------------------


def use_smtp(cli: Cli, port: int, security: str = "none", **extra: str) -> Cli:
    """Point the console script at the test server."""
    cli.env.update(
        {
            "RADIUS_SMTP_HOST": "127.0.0.1",
            "RADIUS_SMTP_PORT": str(port),
            "RADIUS_SMTP_SECURITY": security,
            "RADIUS_SMTP_SENDER_ADDRESS": SENDER,
            "RADIUS_SMTP_SENDER_NAME": "Hive Desk",
            "RADIUS_SPACE_NAME": "Hive & Co",
            # Fast enough for tests; pacing itself is tested on a fake clock below.
            "RADIUS_SMTP_RATE_PER_MINUTE": "60000",
            "RADIUS_SMTP_TIMEOUT": "10",
            **extra,
        }
    )
    for name in ("RADIUS_SMTP_USER", "RADIUS_SMTP_PASSWORD"):
        if name not in extra:
            cli.env.pop(name, None)
    return cli


def add_members(cli: Cli) -> None:
    """The three members of MEMBERS, with their fixed PINs."""
    for address, name, pin in MEMBERS:
        result = cli("customer", "add", address, "--name", name, "--pin", pin)
        assert result.code == 0, result.err


def ok(result: CliResult) -> CliResult:
    """Assert exit status 0 and return the result."""
    assert result.code == 0, (result.out, result.err)
    return result


def assert_no_secret(result: CliResult, *secrets: str) -> None:
    """No PIN or password on stdout or in a log line (timestamps aside, which are digits)."""
    for secret in secrets:
        assert secret not in result.out
    for line in result.err.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            event = line
        if isinstance(event, dict):
            event.pop("timestamp", None)
            line = json.dumps(event)
        for secret in secrets:
            assert secret not in line, line


def audit(cli: Cli) -> list[dict[str, Any]]:
    """Every audit event, newest first."""
    return json.loads(ok(cli("--json", "customer", "history", "--limit", "500")).out)


def reminders(cli: Cli) -> list[dict[str, Any]]:
    """The reminder events of the audit trail, details decoded."""
    return [
        {**event, "details": json.loads(event["details"])}
        for event in audit(cli)
        if event["action"] == "customer.pin_reminder"
    ]


# --- sending ------------------------------------------------------------------------------


def test_each_member_gets_their_own_pin_over_one_connection(
    cli: Cli, smtp_server: Callable[..., Smtp]
) -> None:
    """Headers, the right PIN in each body, one SMTP session, and the audit trail (no PIN)."""
    server = smtp_server()
    use_smtp(cli, server.port)
    add_members(cli)

    result = ok(cli("pin", "remind", "--all", "--yes"))

    assert "sent 3 of 3 reminder(s)" in result.out
    assert_no_secret(result, *PINS.values())
    assert len(server.handler.received) == 3
    assert len({r.peer for r in server.handler.received}) == 1, "one connection for the batch"
    for address, name, pin in MEMBERS:
        got = server.handler.to(address)
        assert got.mail_from == SENDER
        message = got.message
        assert message["From"] == f"Hive Desk <{SENDER}>"
        assert message["To"].addresses[0].addr_spec == address
        assert message["To"].addresses[0].display_name == name
        assert message["Subject"] == "Your PIN for Hive & Co"
        assert message["Message-ID"].endswith("@hive.example>")
        assert message["Date"]
        body = message.get_content()
        assert f"    {pin}\n" in body
        assert f"Hello {name or address}," in body
        others = set(PINS.values()) - {pin}
        assert not any(other in body for other in others)
        assert pin not in message["Subject"]

    events = reminders(cli)
    assert sorted(e["target"] for e in events) == sorted(PINS)
    for event in events:
        assert event["details"] == {"via": "pin remind", "status": "sent"}
        assert event["actor"]
        assert not any(pin in json.dumps(event) for pin in PINS.values())


def test_named_members_and_filters(sqlite_cli: Cli, smtp_server: Callable[..., Smtp]) -> None:
    """EMAIL arguments pick members; --wifi/--active leave out the others, with a note."""
    server = smtp_server()
    cli = use_smtp(sqlite_cli, server.port)
    add_members(cli)
    ok(cli("customer", "update", "bob@example.com", "--wifi", "no"))
    ok(cli("customer", "disable", "cy@example.com"))

    one = ok(cli("pin", "remind", "ANA@example.com"))
    assert "sent 1 of 1" in one.out
    filtered = ok(cli("pin", "remind", "--all", "--active", "--wifi", "--yes"))
    assert "sent 1 of 1" in filtered.out
    named = ok(cli("pin", "remind", "bob@example.com", "ana@example.com", "--wifi", "--yes"))
    assert "skipping bob@example.com: no Wi-Fi access" in named.err
    assert [r.rcpt_tos for r in server.handler.received] == [["ana@example.com"]] * 3

    unknown = cli("pin", "remind", "ana@example.com", "nobody@example.com", "--yes")
    assert unknown.code == 1
    assert "no customer with email nobody@example.com; nothing sent" in unknown.err
    assert len(server.handler.received) == 3

    usage = cli("pin", "remind")
    assert usage.code == 2
    assert "or use --all" in usage.err


def test_refused_recipient_does_not_stop_the_others(
    sqlite_cli: Cli, smtp_server: Callable[..., Smtp]
) -> None:
    """The server refuses bob: ana and cy still get theirs, bob is named, exit status 1."""
    server = smtp_server(Collector(refuse={"bob@example.com"}))
    cli = use_smtp(sqlite_cli, server.port)
    add_members(cli)

    result = cli("pin", "remind", "--all", "--yes")

    assert result.code == 1
    assert sorted(r.rcpt_tos[0] for r in server.handler.received) == [
        "ana@example.com",
        "cy@example.com",
    ]
    assert "sent    ana@example.com" in result.out
    assert (
        "FAILED  bob@example.com: the server refused the recipient: "
        "550 5.1.1 <bob@example.com>: mailbox unavailable"
    ) in result.out
    assert "sent 2 of 3 reminder(s); 1 FAILED" in result.out
    assert_no_secret(result, *PINS.values())
    by_target = {e["target"]: e["details"] for e in reminders(cli)}
    assert by_target["bob@example.com"] == {
        "via": "pin remind",
        "status": "failed",
        "error": "refused_recipient",
    }
    assert by_target["ana@example.com"]["status"] == "sent"

    as_json = json.loads(
        cli("--json", "pin", "remind", "bob@example.com", "cy@example.com", "--yes").out
    )
    assert (as_json["sent"], as_json["failed"]) == (1, 1)
    assert as_json["results"][0]["error"] == "refused_recipient"


def test_server_down_every_recipient_failed(sqlite_cli: Cli) -> None:
    """Nothing listens on the port: each member is reported failed with the reason."""
    cli = use_smtp(sqlite_cli, free_port())
    add_members(cli)

    result = cli("pin", "remind", "--all", "--yes")
    assert result.code == 1
    for address in PINS:
        assert f"FAILED  {address}: connection to 127.0.0.1:" in result.out
    assert "refused: is the SMTP server running on that port?" in result.out
    assert "sent 0 of 3 reminder(s); 3 FAILED" in result.out

    as_json = json.loads(cli("--json", "pin", "remind", "--all", "--yes").out)
    assert as_json["sent"] == 0
    assert {r["error"] for r in as_json["results"]} == {"connection_refused"}

    test = cli("mail", "test", "admin@example.com")
    assert test.code == 1
    assert "sending to admin@example.com failed: connection to 127.0.0.1:" in test.err


def test_starttls_and_login(sqlite_cli: Cli, smtp_server: Callable[..., Smtp], tls: Tls) -> None:
    """STARTTLS (required by the server) then AUTH (only over TLS); mail test and a reminder."""
    server = smtp_server(
        tls_context=tls.server_context(),
        require_starttls=True,
        authenticator=check_login,
        auth_require_tls=True,
    )
    cli = use_smtp(
        sqlite_cli,
        server.port,
        "starttls",
        RADIUS_SMTP_USER=SMTP_USER,
        RADIUS_SMTP_PASSWORD=SMTP_PASSWORD,
        SSL_CERT_FILE=str(tls.cert),
    )
    add_members(cli)

    test = ok(cli("mail", "test", "admin@example.com"))
    assert "sent a test message to admin@example.com via 127.0.0.1:" in test.out
    assert "(STARTTLS, as desk)" in test.out
    remind = ok(cli("pin", "remind", "ana@example.com"))
    assert_no_secret(remind, SMTP_PASSWORD, PINS["ana@example.com"])

    check = server.handler.to("admin@example.com")
    assert check.tls and check.authenticated
    assert check.message["Subject"] == "Test message from Hive & Co"
    assert SMTP_PASSWORD not in check.message.as_string()
    got = server.handler.to("ana@example.com")
    assert got.tls and got.authenticated
    assert PINS["ana@example.com"] in got.message.get_content()

    cli.env["RADIUS_SMTP_PASSWORD"] = "wrong-password-123"
    refused = cli("pin", "remind", "ana@example.com")
    assert refused.code == 1
    assert "refused the login as desk: 535" in refused.out
    assert_no_secret(refused, "wrong-password-123", SMTP_PASSWORD)
    assert len(server.handler.received) == 2


def test_tls_certificate_is_verified(
    sqlite_cli: Cli, smtp_server: Callable[..., Smtp], tls: Tls
) -> None:
    """A certificate the system does not trust is refused: no message leaves."""
    server = smtp_server(tls_context=tls.server_context(), require_starttls=True)
    cli = use_smtp(sqlite_cli, server.port, "starttls")
    cli.env.pop("SSL_CERT_FILE", None)
    cli.env.pop("SSL_CERT_DIR", None)
    result = cli("mail", "test", "admin@example.com")
    assert result.code == 1
    assert "the TLS certificate of 127.0.0.1:" in result.err
    assert "is not trusted" in result.err
    assert server.handler.received == []


def test_starttls_is_never_silently_skipped(
    sqlite_cli: Cli, smtp_server: Callable[..., Smtp]
) -> None:
    """smtp_security=starttls on a server without STARTTLS: refused, not sent in clear."""
    server = smtp_server()
    cli = use_smtp(sqlite_cli, server.port, "starttls")
    add_members(cli)
    result = cli("--json", "pin", "remind", "--all", "--yes")
    assert result.code == 1
    data = json.loads(result.out)
    assert {r["error"] for r in data["results"]} == {"no_starttls"}
    assert "does not offer STARTTLS" in data["results"][0]["reason"]
    assert server.handler.received == []


def test_implicit_tls(sqlite_cli: Cli, smtp_server: Callable[..., Smtp], tls: Tls) -> None:
    """smtp_security=tls (port 465 style) works with a trusted certificate."""
    server = smtp_server(ssl_context=tls.server_context())
    cli = use_smtp(sqlite_cli, server.port, "tls", SSL_CERT_FILE=str(tls.cert))
    result = ok(cli("mail", "test", "admin@example.com"))
    assert "(implicit TLS)" in result.out
    assert server.handler.to("admin@example.com").tls


# --- confirmation and dry run -------------------------------------------------------------


def test_dry_run_sends_nothing(sqlite_cli: Cli, smtp_server: Callable[..., Smtp]) -> None:
    """--dry-run lists recipients and subjects, never connects, audits nothing."""
    server = smtp_server()
    cli = use_smtp(sqlite_cli, server.port)
    add_members(cli)

    result = ok(cli("pin", "remind", "--all", "--dry-run"))
    for address in PINS:
        assert address in result.out
    assert "Your PIN for Hive & Co" in result.out
    assert "dry run: would email 3 member(s) from Hive Desk <desk@hive.example>" in result.out
    assert "nothing sent" in result.out
    assert_no_secret(result, *PINS.values())

    shown = ok(cli("pin", "remind", "bob@example.com", "--dry-run", "--show"))
    assert "To: Bob Stone <bob@example.com>" in shown.out
    assert "    51234" in shown.out

    data = json.loads(ok(cli("--json", "pin", "remind", "--all", "--dry-run")).out)
    assert data["dry_run"] is True
    assert [r["email"] for r in data["recipients"]] == sorted(PINS)

    assert server.handler.received == []
    assert server.handler.ehlos == 0
    assert reminders(cli) == []


def test_dry_run_needs_no_sender_address(sqlite_cli: Cli) -> None:
    """A dry run sends nothing, so a missing smtp_sender_address is a warning, not a stop."""
    cli = use_smtp(sqlite_cli, free_port())
    cli.env.pop("RADIUS_SMTP_SENDER_ADDRESS")
    add_members(cli)
    result = ok(cli("pin", "remind", "--all", "--dry-run"))
    assert "would email 3 member(s)" in result.out and "nothing sent" in result.out
    assert "warning: setting smtp_sender_address: required to send email" in result.err
    assert "sender-not-set@example.invalid" in result.out
    assert reminders(cli) == []
    # Sending for real still stops, naming the setting.
    refused = cli("pin", "remind", "--all", "--yes")
    assert refused.code == 1 and "smtp_sender_address" in refused.err


def test_bulk_send_needs_confirmation(sqlite_cli: Cli, smtp_server: Callable[..., Smtp]) -> None:
    """No terminal and no --yes: refused before any message; one named member needs no --yes."""
    server = smtp_server()
    cli = use_smtp(sqlite_cli, server.port)
    add_members(cli)
    for args in (("--all",), ("ana@example.com", "bob@example.com")):
        result = cli("pin", "remind", *args, stdin="y\n")
        assert result.code == 1
        assert "without confirmation: run again with --yes" in result.err
    assert server.handler.received == []
    ok(cli("pin", "remind", "cy@example.com", stdin=""))
    assert len(server.handler.received) == 1


def test_missing_sender_address_is_a_settings_error(sqlite_cli: Cli) -> None:
    """Without smtp_sender_address nothing is attempted and the setting is named."""
    cli = use_smtp(sqlite_cli, free_port())
    cli.env.pop("RADIUS_SMTP_SENDER_ADDRESS")
    add_members(cli)
    for args in (("pin", "remind", "--all", "--yes"), ("mail", "test", "a@example.com")):
        result = cli(*args)
        assert result.code == 1
        assert "smtp_sender_address: required to send email" in result.err


# --- the template -------------------------------------------------------------------------

CUSTOM = """\
Subject: {space_name}: a reminder for {name}

Hi {name},

your PIN is {pin} (for {email}).
Braces {{like these}} stay.
--- html ---
<p>Hi <b>{name}</b>, your PIN is <code>{pin}</code>.</p>
"""


def test_template_set_is_validated_and_changes_nothing_when_refused(
    cli: Cli, tmp_path: Path
) -> None:
    """set FILE saves a good template; one with an unknown placeholder is refused whole."""
    good = tmp_path / "good.txt"
    good.write_text(CUSTOM, encoding="utf-8")
    saved = ok(cli("template", "set", str(good)))
    assert saved.out.strip() == ("template saved (changed: subject, plain-text body, HTML body)")
    shown = ok(cli("template", "show")).out
    assert shown.startswith("# Saved by ")
    assert shown.split("\n", 1)[1] == CUSTOM

    bad = tmp_path / "bad.txt"
    bad.write_text(CUSTOM.replace("Hi {name}", "Hi {nmae}"), encoding="utf-8")
    refused = cli("template", "set", str(bad))
    assert refused.code == 1
    assert "unknown placeholder {nmae} (did you mean {name}?)" in refused.err
    assert "plain-text body line 1" in refused.err
    assert ok(cli("template", "show")).out.split("\n", 1)[1] == CUSTOM

    no_pin = cli("template", "set", "-", stdin="Subject: Hi\n\nHello {name}\n")
    assert no_pin.code == 1
    assert "must contain {pin}" in no_pin.err

    changes = [e for e in audit(cli) if e["action"].startswith("template.")]
    assert len(changes) == 1
    assert changes[0]["target"] == "pin_reminder"
    assert json.loads(changes[0]["details"]) == {
        "parts": ["subject", "text", "html"],
        "via": "template set",
    }
    unchanged = ok(cli("template", "set", str(good)))
    assert unchanged.out.strip() == "template unchanged"


def test_custom_template_sends_multipart_with_escaped_html(
    sqlite_cli: Cli, smtp_server: Callable[..., Smtp], tmp_path: Path
) -> None:
    """The saved template is what goes out: plain and HTML parts, values escaped in HTML."""
    server = smtp_server()
    cli = use_smtp(sqlite_cli, server.port)
    ok(cli("customer", "add", "zoe@example.com", "--name", "Zoë <Ops> & Co", "--pin", "80808"))
    ok(cli("template", "set", "-", stdin=CUSTOM))

    preview = ok(cli("template", "preview", "zoe@example.com")).out
    assert "Subject: Hive & Co: a reminder for Zoë <Ops> & Co" in preview
    assert "your PIN is 80808 (for zoe@example.com)." in preview
    assert "<b>Zoë &lt;Ops&gt; &amp; Co</b>" in preview

    ok(cli("pin", "remind", "zoe@example.com"))
    message = server.handler.to("zoe@example.com").message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Hive & Co: a reminder for Zoë <Ops> & Co"
    plain = message.get_body(("plain",)).get_content()
    assert "Hi Zoë <Ops> & Co,\n\nyour PIN is 80808 (for zoe@example.com)." in plain
    assert "Braces {like these} stay." in plain
    html_part = message.get_body(("html",)).get_content()
    assert "<p>Hi <b>Zoë &lt;Ops&gt; &amp; Co</b>, your PIN is <code>80808</code>.</p>" in (
        html_part
    )


def test_template_edit_validates_on_save(sqlite_cli: Cli, tmp_path: Path) -> None:
    """$EDITOR edits a temporary copy; a bad edit is refused and kept; reset restores."""
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import os, pathlib, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "path.write_text(path.read_text().replace(os.environ['OLD'], os.environ['NEW']))\n",
        encoding="utf-8",
    )
    cli = sqlite_cli
    cli.env["VISUAL"] = f"{shlex.quote(sys.executable)} {shlex.quote(str(editor))}"
    cli.env["OLD"] = "Subject: Your PIN for {space_name}"
    cli.env["NEW"] = "Subject: Your {space_name} PIN"

    edited = ok(cli("template", "edit", stdin=""))
    assert edited.out.strip() == "template saved (changed: subject)"
    assert "Subject: Your {space_name} PIN\n" in ok(cli("template", "show")).out

    cli.env["OLD"] = "Subject: Your {space_name} PIN"
    cli.env["NEW"] = "Subject: Your {spacename} PIN"
    refused = cli("template", "edit", stdin="")
    assert refused.code == 1
    assert "unknown placeholder {spacename} (did you mean {space_name}?)" in refused.err
    kept = refused.err.split("your text is kept in ", 1)[1].split(":", 1)[0]
    assert "Subject: Your {spacename} PIN" in Path(kept).read_text(encoding="utf-8")
    Path(kept).unlink()
    assert "Subject: Your {space_name} PIN\n" in ok(cli("template", "show")).out

    cli.env["NEW"] = cli.env["OLD"]  # the editor changes nothing
    assert ok(cli("template", "edit", stdin="")).out.strip() == "template unchanged"

    assert ok(cli("template", "reset")).out.strip() == "template reset to the built-in default"
    assert ok(cli("template", "show")).out.startswith("# The built-in default template")
    actions = [e["action"] for e in audit(cli) if e["action"].startswith("template.")]
    assert actions == ["template.reset", "template.set"]


# --- the sender, driven directly ----------------------------------------------------------


def direct_config(port: int, rate: int = 60) -> SmtpConfig:
    """Settings for driving SmtpSender without the CLI."""
    return SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        user="",
        password="",
        timeout=10,
        rate_per_minute=rate,
        sender=mailbox(SENDER, "Hive Desk"),
    )


def message_to(address: str) -> EmailMessage:
    """A small message for ``address``."""
    return build_message(
        Rendered("Hello", "body\n", None), sender=mailbox(SENDER), recipient=mailbox(address)
    )


def test_sender_paces_a_batch_by_the_rate_on_a_fake_clock(
    smtp_server: Callable[..., Smtp],
) -> None:
    """60 a minute: the sender waits one (fake) second between messages, none before the first."""
    server = smtp_server()
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)
    with SmtpSender(direct_config(server.port), bucket=bucket) as sender:
        results = [sender.send(message_to(a)) for a in PINS]
    assert [r.status for r in results] == ["sent"] * 3
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]
    assert sender.connections == 1


def test_sender_reconnects_when_the_server_drops_the_connection(
    smtp_server: Callable[..., Smtp],
) -> None:
    """A reused connection closed by the server is reopened once; nothing is lost."""
    server = smtp_server(Collector(drop_after_message=True))
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)
    with SmtpSender(direct_config(server.port), bucket=bucket) as sender:
        first = sender.send(message_to("ana@example.com"))
        time.sleep(0.3)  # let the server close the connection
        second = sender.send(message_to("bob@example.com"))
    assert (first.status, second.status) == ("sent", "sent")
    assert sender.connections == 2
    assert [r.rcpt_tos for r in server.handler.received] == [
        ["ana@example.com"],
        ["bob@example.com"],
    ]
