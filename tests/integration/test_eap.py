"""End to end with a real supplicant: ``eapol_test`` against ``radius-server serve``.

PEAPv0/EAP-MSCHAPv2 and EAP-TTLS (PAP, MS-CHAPv2, EAP-MSCHAPv2), each over
TLS 1.2 and TLS 1.3, with small fragments both ways (500 octets from the
client, 500 from the server). Also plain MS-CHAPv2 from our own test client,
and the certificate checks at start-up. One server (SQLite) serves the module; the core
methods also run against a second one on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from radius_server.eap.certificates import generate
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.client import encode_access_request, verify_reply
from radius_server.protocol.packet import RadiusRequest, decode_request
from radius_server.protocol.salt import salt_decrypt
from tests.conftest import (
    Cli,
    console_script,
    create_pg_database,
    drop_pg_database,
    require_tool,
)
from tests.integration.server_process import ServerProcess, running_server, server_env

pytestmark = pytest.mark.tools

SECRET = "eap-test-secret-0123456789"
MEMBER = "ada@example.org"
MEMBER_PIN = "24680"
DISABLED = "bob@example.org"
DISABLED_PIN = "13579"
GUESSED = "eve@example.org"  # wrong-PIN tests use their own member (guessing protection)
GUESSED_PIN = "11223"

METHODS = {
    "peap-mschapv2": ("PEAP", "auth=MSCHAPV2"),
    "ttls-pap": ("TTLS", "auth=PAP"),
    "ttls-mschapv2": ("TTLS", "auth=MSCHAPV2"),
    "ttls-eap-mschapv2": ("TTLS", "autheap=MSCHAPV2"),
}


class Eap:
    """Runs eapol_test against the module's server."""

    def __init__(self, server: ServerProcess, ca_file: Path, work: Path, cli: Cli) -> None:
        self.server = server
        self.ca_file = ca_file
        self.work = work
        self.cli = cli
        self.tool = require_tool("eapol_test")

    def run(
        self,
        method: str,
        tls13: bool,
        user: str,
        pin: str,
        anonymous: str | None = "anonymous",
        extra: tuple[str, ...] = (),
        fragment: int = 500,
        reauth: int = 0,
        port: int | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """One eapol_test run: a sign-in, then ``reauth`` reconnects keeping the TLS session.

        ``port``: where to send (default: the server's auth port).
        """
        eap, phase2 = METHODS[method]
        lines = [
            "network={",
            '  ssid="test"',
            "  key_mgmt=WPA-EAP",
            f"  eap={eap}",
            f'  identity="{user}"',
            f'  password="{pin}"',
            f'  ca_cert="{self.ca_file}"',
            '  domain_match="radius.test.lan"',
            f'  phase2="{phase2}"',
            f"  fragment_size={fragment}",
            f'  phase1="tls_disable_tlsv1_3={0 if tls13 else 1}"',
        ]
        if anonymous is not None:
            lines.append(f'  anonymous_identity="{anonymous}"')
        conf = self.work / f"eapol-{secrets.token_hex(4)}.conf"
        conf.write_text("\n".join([*lines, "}", ""]))
        return subprocess.run(
            [
                self.tool,
                "-c",
                str(conf),
                "-a",
                "127.0.0.1",
                "-p",
                str(port or self.server.auth_port),
                "-s",
                SECRET,
                "-r",
                str(reauth),
                "-t",
                "10",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@contextmanager
def _eap_site(
    url: str, work: Path, *, upgrade: bool = False, key_type: str = "rsa"
) -> Iterator[Eap]:
    """A server on ``url`` with a generated certificate, one NAS and three members."""
    require_tool("eapol_test")
    cli = Cli(url, work)
    data_dir = work / "data"
    if upgrade:
        # SQLite migrates itself; PostgreSQL is upgraded by the operator (README).
        assert cli("db", "upgrade").code == 0
    assert cli("nas", "add", "lo", "--address", "127.0.0.1", "--secret", SECRET).code == 0
    assert cli("customer", "add", MEMBER, "--pin", MEMBER_PIN).code == 0
    assert cli("customer", "add", DISABLED, "--pin", DISABLED_PIN, "--disabled").code == 0
    assert cli("customer", "add", GUESSED, "--pin", GUESSED_PIN).code == 0
    made = cli("certs", "generate", "--hostname", "radius.test.lan", "--key-type", key_type)
    assert made.code == 0, made.err
    assert "production" in made.err  # the trial-CA warning
    with running_server(url, data_dir, RADIUS_EAP_FRAGMENT_SIZE="500") as server:
        server.wait_for("eap_enabled")
        yield Eap(server, data_dir / "certs" / "ca.pem", work, cli)


@pytest.fixture(scope="module")
def eap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    """The module's server, on SQLite."""
    work = tmp_path_factory.mktemp("eap")
    with _eap_site(f"sqlite:///{work / 'radius.db'}", work) as site:
        yield site


@pytest.fixture(scope="module")
def eap_postgresql(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    """The same site on the real PostgreSQL (production), for the core methods."""
    url = create_pg_database(pg_server)
    try:
        with _eap_site(url, tmp_path_factory.mktemp("eap-pg"), upgrade=True) as site:
            yield site
    finally:
        drop_pg_database(pg_server, url)


def _accept_line(server: ServerProcess, method: str) -> dict:
    return server.wait_for("access", outcome="accept", method=method, user=MEMBER)


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("method", list(METHODS))
def test_member_signs_in_with_mppe_keys(eap: Eap, method: str, tls13: bool) -> None:
    result = eap.run(method, tls13, MEMBER, MEMBER_PIN)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in result.stdout
    assert "SUCCESS" in result.stdout
    version = "TLSv1.3" if tls13 else "TLSv1.2"
    lines = eap.server.find(
        "access",
        outcome="accept",
        method=method,
        user=MEMBER,
        where=lambda e: version in e.get("detail", ""),
    )
    # The outer identity was "anonymous"; the decision and the log use the email.
    assert lines, eap.server.output()[-3000:]
    assert "outer=anonymous" in lines[-1]["detail"]


@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap"])
def test_core_methods_on_postgresql(eap_postgresql: Eap, method: str) -> None:
    """PEAP and TTLS end to end on PostgreSQL: the member signs in, a wrong PIN fails."""
    result = eap_postgresql.run(method, True, MEMBER, MEMBER_PIN)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in result.stdout
    _accept_line(eap_postgresql.server, method)
    wrong = eap_postgresql.run(method, True, GUESSED, "99999")
    assert wrong.returncode != 0
    eap_postgresql.server.wait_for(
        "access", outcome="reject", reason="wrong_pin", method=method, user=GUESSED
    )


@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap", "ttls-eap-mschapv2"])
def test_wrong_pin_fails(eap: Eap, method: str) -> None:
    result = eap.run(method, True, GUESSED, "99999")
    assert result.returncode != 0
    assert "CTRL-EVENT-EAP-FAILURE" in result.stdout
    eap.server.wait_for("access", outcome="reject", reason="wrong_pin", method=method, user=GUESSED)


@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-mschapv2"])
def test_disabled_member_fails(eap: Eap, method: str) -> None:
    result = eap.run(method, False, DISABLED, DISABLED_PIN)
    assert result.returncode != 0
    eap.server.wait_for("access", outcome="reject", reason="inactive", method=method)


def test_without_anonymous_identity_the_email_is_used(eap: Eap) -> None:
    result = eap.run("peap-mschapv2", False, MEMBER, MEMBER_PIN, anonymous=None)
    assert result.returncode == 0, result.stdout[-3000:]
    line = eap.server.wait_for("access", outcome="accept", method="peap-mschapv2", user=MEMBER)
    assert line["user"] == MEMBER


def test_a_device_that_distrusts_the_certificate_fails_cleanly(eap: Eap, tmp_path: Path) -> None:
    other = generate(tmp_path / "other", "radius.test.lan", "Someone else")
    original = eap.ca_file
    eap.ca_file = other.ca_cert
    try:
        result = eap.run("peap-mschapv2", True, MEMBER, MEMBER_PIN)
    finally:
        eap.ca_file = original
    assert result.returncode != 0
    line = eap.server.wait_for("access", outcome="reject", reason="eap_tls_failed")
    assert "unknown ca" in line["detail"]


def test_unknown_member_is_logged_with_the_inner_identity(eap: Eap) -> None:
    result = eap.run("ttls-pap", False, "nobody@example.org", "12345")
    assert result.returncode != 0
    line = eap.server.wait_for("access", outcome="reject", reason="unknown_user", method="ttls-pap")
    assert "inner=nobody@example.org" in line["detail"]


def test_a_chain_of_proxies_does_not_break_sign_in(eap: Eap) -> None:
    """3.5 KB of Proxy-State on every request: our 500-octet fragments shrink to fit beside
    it (issue 10). The device sends smaller ones, so that its requests fit too."""
    chain = tuple(f"-N33:x:{bytes((n,)).hex() * 250}" for n in range(14))
    result = eap.run("peap-mschapv2", True, MEMBER, MEMBER_PIN, extra=chain, fragment=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in result.stdout
    assert not eap.server.find("access", reason="internal_error")


def test_an_empty_eap_identity_signs_in(eap: Eap) -> None:
    """An empty outer identity becomes an empty User-Name (hostapd, eapol_test): answered."""
    result = eap.run("peap-mschapv2", True, MEMBER, MEMBER_PIN, anonymous="")
    assert result.returncode == 0, result.stdout[-3000:]
    # Other tests' accepts of this member are in the log already: wait for this one's.
    lines = eap.server.find(
        "access",
        outcome="accept",
        method="peap-mschapv2",
        user=MEMBER,
        where=lambda e: e["detail"].startswith("outer= "),
    )
    assert lines, eap.server.output()[-3000:]


# -- plain MS-CHAPv2 from our own client -------------------------------------------------


def _mschap_exchange(eap: Eap, user: str, pin: str) -> tuple[RadiusRequest, bytes, bytes, bytes]:
    auth_challenge, peer_challenge = secrets.token_bytes(16), secrets.token_bytes(16)
    attrs = mschap.mschapv2_request_attributes(
        user, pin.encode(), auth_challenge, peer_challenge, 5
    )
    authenticator = secrets.token_bytes(16)
    request = encode_access_request(
        SECRET.encode(), identifier=42, attributes=attrs, authenticator=authenticator
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(request.packet, ("127.0.0.1", eap.server.auth_port))
        reply = sock.recv(4096)
    assert verify_reply(reply, authenticator, SECRET.encode(), identifier=42)
    nt = mschap.generate_nt_response(auth_challenge, peer_challenge, user.encode(), pin.encode())
    expected = mschap.generate_authenticator_response(
        pin.encode(), nt, peer_challenge, auth_challenge, user.encode()
    )
    return decode_request(reply), authenticator, nt, expected


def test_plain_mschapv2_success_has_authenticator_response_and_keys(eap: Eap) -> None:
    reply, authenticator, nt, expected = _mschap_exchange(eap, MEMBER, MEMBER_PIN)
    assert reply.code == c.Code.ACCESS_ACCEPT
    assert reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP2_SUCCESS) == b"\x05" + expected
    secret = SECRET.encode()
    send = salt_decrypt(
        reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY), secret, authenticator
    )
    recv = salt_decrypt(
        reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_RECV_KEY), secret, authenticator
    )
    assert (send, recv) == mschap.server_mppe_keys(MEMBER_PIN.encode(), nt)
    eap.server.wait_for("access", outcome="accept", method="mschapv2", user=MEMBER)


def test_plain_mschapv2_wrong_pin_gets_ms_chap_error(eap: Eap) -> None:
    reply, *_ = _mschap_exchange(eap, GUESSED, "98765")
    assert reply.code == c.Code.ACCESS_REJECT
    error = reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP_ERROR)
    assert error is not None and error[1:].startswith(b"E=691")
    assert reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY) is None


# -- certificates at start-up ------------------------------------------------------------------


def _serve_fails(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    return subprocess.run(
        [console_script(), "serve", "--host", "127.0.0.1", "--auth-port", "0", "--acct-port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=server_env(url, tmp_path / "data", **env),
    )


def test_expired_certificate_refuses_to_start(tmp_path: Path) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=900)
    generate(tmp_path / "data" / "certs", "radius.test.lan", "Test", now=long_ago)
    result = _serve_fails(tmp_path)
    assert result.returncode != 0
    assert "expired" in result.stderr


def test_mismatched_key_refuses_to_start(tmp_path: Path) -> None:
    first = generate(tmp_path / "one", "radius.test.lan", "Test")
    second = generate(tmp_path / "two", "radius.test.lan", "Test")
    result = _serve_fails(
        tmp_path,
        RADIUS_TLS_CERT_FILE=str(first.server_cert),
        RADIUS_TLS_KEY_FILE=str(second.server_key),
    )
    assert result.returncode != 0
    assert "does not match" in result.stderr


def test_without_certificate_eap_is_off_and_server_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'radius.db'}"
    with running_server(url, tmp_path / "data") as server:
        server.wait_for("eap_disabled")
