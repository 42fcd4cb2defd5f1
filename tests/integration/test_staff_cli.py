"""``radius-server staff``: accounts, passwords typed once or set by an emailed link, audit.

Through the real console script, on both back ends; the link email goes to a
real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta

from radius_server.admin.staff import verify_password
from radius_server.store import database
from radius_server.store.sign_in_links import STAFF_PASSWORD, SignInLinkRepository
from radius_server.store.staff import StaffRepository
from tests.conftest import Cli, console_script
from tests.integration.test_mail import Smtp, smtp_server, use_smtp  # noqa: F401 (fixture)

PASSWORD = "a password long enough"


def _repo(cli: Cli) -> StaffRepository:
    engine = database.make_engine(cli.env["RADIUS_DATABASE_URL"])
    return StaffRepository(database.make_session_factory(engine), "test")


def _history(cli: Cli) -> list[dict[str, str]]:
    result = cli("customer", "history", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_add_list_password_disable_remove_audited(clean_cli: Cli) -> None:
    """Every change is one audit row; the password is never printed or stored in clear."""
    added = clean_cli(
        "staff",
        "add",
        "Ann@Example.com",
        "--role",
        "operator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.code == 0, added.err
    assert "added staff ann@example.com (operator, with a password)" in added.out
    listed = json.loads(clean_cli("staff", "list", "--json").out)
    assert [(s["email"], s["role"], s["state"]) for s in listed] == [
        ("ann@example.com", "operator", "active")
    ]
    _record, stored = _repo(clean_cli).credentials("ann@example.com") or (None, None)
    assert stored is not None and stored.startswith("$argon2id$")
    assert verify_password(stored, PASSWORD)
    changed = clean_cli("staff", "set-password", "ann@example.com", stdin="another one, longer\n")
    assert changed.code == 0, changed.err
    assert clean_cli("staff", "disable", "ann@example.com").code == 0
    assert json.loads(clean_cli("staff", "list", "--json").out)[0]["state"] == "disabled"
    assert clean_cli("staff", "enable", "ann@example.com").code == 0
    assert clean_cli("staff", "remove", "ann@example.com").code == 0
    assert clean_cli("staff", "list").out.strip() == "no staff accounts"
    actions = [(e["action"], e["target"]) for e in reversed(_history(clean_cli))]
    target = "staff:ann@example.com"
    assert actions == [
        ("staff.add", target),
        ("staff.set_password", target),
        ("staff.disable", target),
        ("staff.enable", target),
        ("staff.remove", target),
    ]
    everything = "".join(e["details"] for e in _history(clean_cli))
    assert PASSWORD not in everything and "argon2" not in everything


def test_refusals_write_nothing(clean_cli: Cli) -> None:
    """A short password, the email as password, a duplicate, an unknown account, a bad role."""
    for password in ("too short", "ann@example.com", "ANN"):
        result = clean_cli(
            "staff",
            "add",
            "ann@example.com",
            "--role",
            "admin",
            "--password-stdin",
            stdin=password + "\n",
        )
        assert result.code == 1
        assert password not in result.err + result.out
    assert (
        "at least 12 characters"
        in clean_cli(
            "staff", "add", "a@example.com", "--role", "admin", "--password-stdin", stdin="short\n"
        ).err
    )
    assert clean_cli("staff", "list").out.strip() == "no staff accounts"
    assert clean_cli("staff", "add", "ann@example.com", "--role", "boss").code == 2
    assert clean_cli("staff", "add", "not-an-email", "--role", "admin").code == 1
    assert (
        clean_cli(
            "staff",
            "add",
            "ann@example.com",
            "--role",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ).code
        == 0
    )
    again = clean_cli("staff", "add", "ann@example.com", "--role", "readonly")
    assert again.code == 1 and "exists" in again.err
    unknown = clean_cli("staff", "set-password", "bob@example.com", stdin=PASSWORD + "\n")
    assert unknown.code == 1 and "no staff account" in unknown.err
    # --send-link without the address of the pages: refused before the account exists.
    link = clean_cli("staff", "add", "bob@example.com", "--role", "admin", "--send-link")
    assert link.code == 1 and "web_public_url" in link.err
    assert [s["email"] for s in json.loads(clean_cli("staff", "list", "--json").out)] == [
        "ann@example.com"
    ]


def test_add_prints_a_one_time_link_without_an_option(clean_cli: Cli) -> None:
    """No password and no --send-link: the link is printed once and works once."""
    result = clean_cli("staff", "add", "ann@example.com", "--role", "readonly")
    assert result.code == 0, result.err
    token = re.search(r"/staff/set-password\?token=(\S+)", result.out)
    assert token is not None
    engine = database.make_engine(clean_cli.env["RADIUS_DATABASE_URL"])
    links = SignInLinkRepository(database.make_session_factory(engine), "test")
    link = links.peek(token.group(1), STAFF_PASSWORD)
    assert link is not None and link.email == "ann@example.com"
    assert link.expires_at is not None and link.created_at is not None
    assert link.expires_at - link.created_at == timedelta(hours=24)
    assert json.loads(clean_cli("staff", "list", "--json").out)[0]["state"] == "no password"
    engine.dispose()


def test_send_link_emails_the_link(clean_cli: Cli, smtp_server: Callable[..., Smtp]) -> None:  # noqa: F811
    """--send-link: a real SMTP server receives one message with the full address."""
    smtp = smtp_server()
    use_smtp(clean_cli, smtp.port, RADIUS_WEB_PUBLIC_URL="https://wifi.example.com/")
    result = clean_cli("staff", "add", "ann@example.com", "--role", "admin", "--send-link")
    assert result.code == 0, result.err
    assert "token=" not in result.out  # mailed, not printed
    message = smtp.handler.to("ann@example.com").message
    body = message.get_content()
    found = re.search(r"https://wifi\.example\.com/staff/set-password\?token=(\S+)", body)
    assert found is not None, body
    again = clean_cli("staff", "link", "ann@example.com", "--send")
    assert again.code == 0, again.err
    assert len(smtp.handler.received) == 2


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    """Read a pseudo-terminal until ``marker`` (or its end); what was read."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        ready, _w, _x = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data


def test_set_password_on_a_terminal_is_typed_once_without_echo(sqlite_cli: Cli) -> None:
    """On a terminal the password is asked for once and never shown back."""

    assert sqlite_cli("staff", "add", "ann@example.com", "--role", "admin").code == 0
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [console_script(), "staff", "set-password", "ann@example.com"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=sqlite_cli.env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        prompt = _read_until(master, b"Password: ")
        assert prompt.endswith(b"Password: "), prompt
        os.write(master, (PASSWORD + "\n").encode())
        rest = _read_until(master, b"signed out\r\n")
        assert proc.wait(timeout=60) == 0, rest
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert b"password set for ann@example.com" in rest
    assert PASSWORD.encode() not in prompt + rest
    _record, stored = _repo(sqlite_cli).credentials("ann@example.com") or (None, None)
    assert verify_password(stored, PASSWORD)
