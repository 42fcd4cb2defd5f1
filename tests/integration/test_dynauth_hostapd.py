"""Our Disconnect-Requests against a real DAS: Debian's hostapd.

hostapd runs with the wired driver on one end of a veth pair made for the test
(names carry the pid), 802.1X on, its RADIUS servers pointed at unused loopback
ports, and its DAS as strict as it goes: Event-Timestamp and Message-Authenticator
required. No station ever connects, so any session we name is unknown: a verified
Disconnect-NAK with Error-Cause 503 proves both authenticators and the
Message-Authenticator interoperate. Needs root (veth); under CI=true a missing
tool or privilege fails.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.attributes import integer_attribute
from radius_server.protocol.dynauth import (
    coa_attributes,
    decode_response,
    encode_request,
    session_attributes,
)
from radius_server.protocol.packet import Attribute
from radius_server.runtime.dynauth import DynAuthOutcome, DynAuthStatus, send_request
from tests.conftest import require_tool, skip_or_fail
from tests.unit.engine_harness import RecordingLog
from tests.unit.protocol import dynauth_reference as ref

pytestmark = pytest.mark.tools

DAS_SECRET = b"hostapd-das-secret-0123"
NAS_IDENTIFIER = "dynauth-test-ap"


def _free_udp_port() -> int:
    # hostapd binds its DAS on 0.0.0.0: the port must be free there.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def _udp_port_bound(port: int) -> bool:
    needle = f":{port:04X} "
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            if needle in Path(table).read_text():
                return True
        except OSError:
            continue
    return False


@dataclass
class Hostapd:
    """A running hostapd: where its DAS listens, and its debug output."""

    das_port: int
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, text: str, deadline: float = 10.0) -> None:
        """Until hostapd's output has ``text`` (bounded)."""
        end = time.monotonic() + deadline
        while text not in self.output():
            assert time.monotonic() < end, f"hostapd never logged {text!r}:\n{self.output()}"
            time.sleep(0.05)


@pytest.fixture
def hostapd(tmp_path: Path) -> Iterator[Hostapd]:
    """hostapd (wired driver) on a fresh veth pair, its DAS strict; all removed after."""
    binary = require_tool("hostapd")
    ip = require_tool("ip")
    if os.geteuid() != 0:
        skip_or_fail("creating a veth pair for hostapd needs root")
    # Interface names: at most 15 characters, unique per test process.
    suffix = f"{os.getpid() % 100000}{os.urandom(1).hex()}"
    ap_end, peer_end = f"dva{suffix}", f"dvb{suffix}"
    subprocess.run(
        [ip, "link", "add", ap_end, "type", "veth", "peer", "name", peer_end],
        check=True,
        capture_output=True,
    )
    process: subprocess.Popen[bytes] | None = None
    try:
        for name in (ap_end, peer_end):
            subprocess.run([ip, "link", "set", name, "up"], check=True, capture_output=True)
        das_port = _free_udp_port()
        config = tmp_path / "hostapd.conf"
        config.write_text(
            "\n".join(
                [
                    f"interface={ap_end}",
                    "driver=wired",
                    "logger_stdout=-1",
                    "logger_stdout_level=0",
                    "ieee8021x=1",
                    "eap_reauth_period=0",
                    "own_ip_addr=127.0.0.1",
                    f"nas_identifier={NAS_IDENTIFIER}",
                    "auth_server_addr=127.0.0.1",
                    f"auth_server_port={_free_udp_port()}",
                    "auth_server_shared_secret=unused-auth-secret",
                    "acct_server_addr=127.0.0.1",
                    f"acct_server_port={_free_udp_port()}",
                    "acct_server_shared_secret=unused-acct-secret",
                    f"radius_das_port={das_port}",
                    f"radius_das_client=127.0.0.1 {DAS_SECRET.decode()}",
                    "radius_das_time_window=300",
                    "radius_das_require_event_timestamp=1",
                    "radius_das_require_message_authenticator=1",
                    "",
                ]
            )
        )
        log_path = tmp_path / "hostapd.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [binary, "-dd", str(config)], stdout=log_file, stderr=subprocess.STDOUT
            )
        running = Hostapd(das_port, log_path)
        end = time.monotonic() + 15
        while not _udp_port_bound(das_port):
            assert process.poll() is None, f"hostapd exited:\n{running.output()}"
            assert time.monotonic() < end, f"hostapd's DAS never listened:\n{running.output()}"
            time.sleep(0.05)
        yield running
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        # Deleting one end removes the pair.
        subprocess.run([ip, "link", "del", ap_end], check=False, capture_output=True)


def disconnect(
    hostapd: Hostapd,
    log: RecordingLog,
    *,
    secret: bytes = DAS_SECRET,
    nas_identifier: str = NAS_IDENTIFIER,
    timeouts: tuple[float, ...] = (1.0, 2.0, 4.0),
    authorization: list[Attribute] | None = None,
) -> DynAuthOutcome:
    """Our Disconnect-Request for a session hostapd does not have.

    With ``authorization``: a CoA-Request giving the session those attributes instead.
    """
    attributes = session_attributes(
        now=time.time(),
        user_name="ana@example.com",
        acct_session_id="0123456789ABCDEF",
        calling_station_id="02-00-00-00-00-01",
        nas_identifier=nas_identifier,
        nas_ip_address="127.0.0.1",
    )
    code = c.Code.DISCONNECT_REQUEST
    if authorization is not None:
        code, attributes = c.Code.COA_REQUEST, coa_attributes(attributes, authorization)
    return asyncio.run(
        send_request(
            ("127.0.0.1", hostapd.das_port),
            secret,
            code,
            attributes,
            timeouts=timeouts,
            log=log,
            log_fields={"user": "ana@example.com", "reason": "admin"},
            # hostapd signs every reply: demand it, so the check is exercised.
            require_message_authenticator=True,
        )
    )


def test_unknown_session_gets_a_verified_nak_503(hostapd: Hostapd) -> None:
    log = RecordingLog()
    outcome = disconnect(hostapd, log)
    assert outcome.status is DynAuthStatus.NAK, hostapd.output()
    assert (outcome.error_cause, outcome.error_name) == (503, "Session-Context-Not-Found")
    assert outcome.reply is not None and outcome.reply.code == c.Code.DISCONNECT_NAK
    assert any(t == c.MESSAGE_AUTHENTICATOR for t, _ in outcome.reply.attributes)
    assert not log.named("disconnect_ignored")  # hostapd's reply verified at once
    hostapd.wait_for_line("DAS: Session not found for request")


def test_wrong_nas_identifier_gets_a_nak_403(hostapd: Hostapd) -> None:
    outcome = disconnect(hostapd, RecordingLog(), nas_identifier="some-other-ap")
    assert outcome.status is DynAuthStatus.NAK, hostapd.output()
    assert (outcome.error_cause, outcome.error_name) == (403, "NAS-Identification-Mismatch")


def test_wrong_secret_gets_silence(hostapd: Hostapd) -> None:
    log = RecordingLog()
    outcome = disconnect(hostapd, log, secret=b"not-the-das-secret", timeouts=(0.3, 0.3))
    assert outcome.status is DynAuthStatus.TIMEOUT and outcome.attempts == 2
    assert not log.named("disconnect_ignored")  # silence, not a reply we refused
    hostapd.wait_for_line("Invalid authenticator or Message-Authenticator")
    assert DAS_SECRET.decode() not in repr(log.events)
    assert "not-the-das-secret" not in repr(log.events)


def test_hostapd_checks_our_message_authenticator(hostapd: Hostapd) -> None:
    """A request whose only fault is its Message-Authenticator is dropped.

    So the NAK above really depended on our Message-Authenticator being right:
    hostapd does verify it (and would not accept it computed any other way).
    """
    attributes = session_attributes(now=time.time(), user_name="ana@example.com")
    good = encode_request(c.Code.DISCONNECT_REQUEST, 1, DAS_SECRET, attributes)
    # Break the Message-Authenticator (first attribute), then re-hash the Request
    # Authenticator so it alone stays valid.
    body = good[20:22] + bytes(b ^ 0xFF for b in good[22:38]) + good[38:]
    bad = good[:1] + b"\x02" + good[2:4]
    bad = bad + ref.md5(bad + ref.ZEROS + body + DAS_SECRET) + body
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(bad, ("127.0.0.1", hostapd.das_port))
        sock.sendto(good, ("127.0.0.1", hostapd.das_port))
        data = sock.recv(4096)  # the first and only answer is to the good one
    assert data[1] == 1
    reply = decode_response(data, 1, good[4:20], DAS_SECRET, request_code=c.Code.DISCONNECT_REQUEST)
    assert reply is not None and reply.error_cause == 503
    hostapd.wait_for_line("Invalid authenticator or Message-Authenticator")


def test_nas_port_is_refused_as_unsupported(hostapd: Hostapd) -> None:
    """Why session_attributes never sends NAS-Port: hostapd NAKs it (Error-Cause 401)."""
    attributes = [
        *session_attributes(now=time.time(), user_name="ana@example.com"),
        (c.NAS_PORT, (1).to_bytes(4, "big")),
    ]
    outcome = asyncio.run(
        send_request(
            ("127.0.0.1", hostapd.das_port),
            DAS_SECRET,
            c.Code.DISCONNECT_REQUEST,
            attributes,
            log=RecordingLog(),
        )
    )
    assert outcome.status is DynAuthStatus.NAK, hostapd.output()
    assert (outcome.error_cause, outcome.error_name) == (401, "Unsupported-Attribute")


def test_coa_request_is_refused(hostapd: Hostapd) -> None:
    """Debian's hostapd takes no new authorization by CoA-Request: a verified CoA-NAK.

    Its DAS (src/radius/radius_das.c, radius_das_coa) allows in a CoA-Request only the
    session identification attributes and, with Hotspot 2.0 support (Debian's build
    has it), the WFA terms-and-conditions VSA: any authorization attribute
    (Session-Timeout here, tunnel or bandwidth attributes alike) gets Error-Cause 401
    before any session is looked up. So for a hostapd NAS
    the plan_changed job must fall back to a Disconnect-Request (README, "Sending
    members away").
    """
    log = RecordingLog()
    outcome = disconnect(hostapd, log, authorization=[integer_attribute(c.SESSION_TIMEOUT, 3600)])
    assert outcome.status is DynAuthStatus.NAK, hostapd.output()
    assert outcome.reply is not None and outcome.reply.code == c.Code.COA_NAK
    assert (outcome.error_cause, outcome.error_name) == (401, "Unsupported-Attribute")
    hostapd.wait_for_line("DAS: Unsupported attribute 27 in CoA-Request")
    [nak] = log.named("coa_nak")
    assert nak["error_cause"] == outcome.error_cause
