"""End to end with real equipment: hostapd (wired 802.1X) as the access point, wpa_supplicant
as the member's device, ``radius-server serve`` behind them (``tests/integration/wired_lab.py``).

A member signs in with PEAP/MS-CHAPv2 (email + PIN) and off again; accounting arrives from
the access point; a wrong PIN leaves the port closed; hostapd's Dynamic Authorization port
(RFC 5176) disconnects a device and answers NAKs we can name. Needs root (a network
namespace and veth pairs) and hostapd, wpasupplicant, freeradius-utils: under CI=true a
missing one fails. Each test builds its own lab and checks that nothing of it is left.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.wired_lab import (
    Device,
    LabSite,
    WiredLab,
    lab_site,
    leftovers,
    require_lab,
)

pytestmark = [pytest.mark.tools, pytest.mark.lab]

MEMBER = "ada@example.org"
MEMBER_PIN = "24680"
OTHER = "bob@example.org"  # a second member, for two devices on one access point
OTHER_PIN = "13579"
GUESSED = "eve@example.org"  # the wrong-PIN test's own member (guessing protection)
GUESSED_PIN = "11223"


def _timing(step: str, seconds: float) -> None:
    # Shown with pytest -s; the report quotes them. Never asserted (no test asserts a time).
    print(f"[wired-lab timing] {step}: {seconds:.3f} s")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSite]:
    """The server under test (SQLite) with the lab's NAS, certificate and members."""
    require_lab()
    work = tmp_path_factory.mktemp("wired")
    members = {MEMBER: MEMBER_PIN, OTHER: OTHER_PIN, GUESSED: GUESSED_PIN}
    with lab_site(f"sqlite:///{work / 'radius.db'}", work, members) as made:
        yield made


@pytest.fixture
def lab(site: LabSite, tmp_path: Path) -> Iterator[WiredLab]:
    """A fresh access point for one test; afterwards nothing of it may remain."""
    with site.lab(work_dir=tmp_path) as made:
        yield made
    assert made.hostapd is not None and made.hostapd.poll() is not None
    assert leftovers(made.name) == []


def _signed_in(lab: WiredLab, site: LabSite, email: str, pin: str) -> Device:
    """A device of ``email`` signed in, with its accept and Accounting-Start logged."""
    since = site.server.mark()
    device = lab.start_device(email, pin)
    _timing("sign-in (wpa_supplicant start to authorized, both sides)", device.wait_authorized())
    site.server.wait_for(
        "accounting",
        since=since,
        status_type="start",
        calling_station=device.calling_station_id,
        timeout=10,
    )
    return device


def test_member_signs_in_and_off_through_the_access_point(lab: WiredLab, site: LabSite) -> None:
    since = site.server.mark()
    log_mark = lab.log_mark()
    device = lab.start_device(MEMBER, MEMBER_PIN)
    _timing("sign-in (wpa_supplicant start to authorized, both sides)", device.wait_authorized())
    status = device.status()
    assert status["suppPortStatus"] == "Authorized"
    assert status["EAP state"] == "SUCCESS"
    assert status["Supplicant PAE state"] == "AUTHENTICATED"
    assert lab.authorized_stations() == {device.mac}
    # The protocol's own time, from the device's EAPOL-Start to the open port.
    start = lab.wait_for_log(rf"STA {device.mac} IEEE 802.1X: received EAPOL-Start", since=log_mark)
    opened = lab.wait_for_log(rf"STA {device.mac} IEEE 802.1X: authorizing port", since=log_mark)
    _timing(
        "EAPOL-Start to port authorized (hostapd log)",
        lab.hostapd_log.time_of(opened) - lab.hostapd_log.time_of(start),
    )
    # hostapd took the member's email from the accept; the outer identity was "anonymous".
    assert lab.station(device.mac)["dot1xAuthSessionUserName"] == MEMBER

    accept = site.server.wait_for(
        "access", since=since, outcome="accept", method="peap-mschapv2", user=MEMBER
    )
    assert accept["calling_station"] == device.calling_station_id
    assert accept["nas_identifier"] == lab.nas_identifier
    started = site.server.wait_for(
        "accounting",
        since=since,
        status_type="start",
        calling_station=device.calling_station_id,
        timeout=10,
    )
    assert started["user"] == MEMBER
    assert started["nas_identifier"] == lab.nas_identifier
    assert started["outcome"] == "accept"  # answered: hostapd stops retransmitting
    session_id = lab.acct_session_id(device.mac)
    assert session_id is not None and started["session_id"] == session_id

    # EAPOL-Logoff: the access point closes the port and ends the accounting session.
    since = site.server.mark()
    device.logoff()
    _timing("logoff to port unauthorized", device.wait_unauthorized())
    stopped = site.server.wait_for(
        "accounting", since=since, status_type="stop", calling_station=device.calling_station_id
    )
    assert stopped["session_id"] == session_id
    assert stopped["user"] == MEMBER
    assert not device.supplicant_authorized()

    # Back on, then the device is stopped (it signs off first): a second session, stopped.
    since = site.server.mark()
    device.logon()
    _timing("logon to authorized", device.wait_authorized())
    again = site.server.wait_for(
        "accounting",
        since=since,
        status_type="start",
        calling_station=device.calling_station_id,
        timeout=10,
    )
    device.stop()
    site.server.wait_for(
        "accounting",
        since=since,
        status_type="stop",
        calling_station=device.calling_station_id,
        session_id=again["session_id"],
    )
    assert lab.authorized_stations() == set()


def test_a_wrong_pin_leaves_the_port_unauthorized(lab: WiredLab, site: LabSite) -> None:
    since = site.server.mark()
    device = lab.start_device(GUESSED, "99999")
    _timing("wrong PIN: start to EAP failure", device.wait_failed())
    assert device.status()["suppPortStatus"] == "Unauthorized"
    assert device.mac not in lab.authorized_stations()
    rejected = site.server.wait_for(
        "access", since=since, outcome="reject", reason="wrong_pin", user=GUESSED
    )
    assert rejected["calling_station"] == device.calling_station_id
    # Nothing was opened, so nothing is accounted for this device.
    assert not site.server.find(
        "accounting", since=since, timeout=0.5, calling_station=device.calling_station_id
    )


def test_a_device_that_vanishes_stays_online_until_hostapd_stops(
    site: LabSite, tmp_path: Path
) -> None:
    """Wired hostapd does not watch the link: a device that dies without EAPOL-Logoff keeps
    its port (and its accounting session) until hostapd stops, which then sends
    Accounting-Stop for it and Accounting-Off."""
    with site.lab(work_dir=tmp_path) as lab:
        device = _signed_in(lab, site, MEMBER, MEMBER_PIN)
        device.stop(logoff=False)
        assert lab.port_authorized(device.mac)
        since = site.server.mark()
        nas = lab.nas_identifier
        name = lab.name
    site.server.wait_for(
        "accounting", since=since, status_type="stop", calling_station=device.calling_station_id
    )
    site.server.wait_for(
        "accounting", since=since, status_type="accounting-off", nas_identifier=nas
    )
    assert leftovers(name) == []


def test_a_disconnect_request_closes_the_port(lab: WiredLab, site: LabSite) -> None:
    """hostapd's DAS answers Disconnect-ACK and removes the station at once; the device
    (which wired 802.1X does not tell) signs in again when it next authenticates."""
    device = _signed_in(lab, site, MEMBER, MEMBER_PIN)
    session_id = lab.acct_session_id(device.mac)
    assert session_id is not None
    since = site.server.mark()
    log_mark = lab.log_mark()
    reply = lab.disconnect(
        {"Calling-Station-Id": device.calling_station_id, "NAS-Identifier": str(lab.nas_identifier)}
    )
    assert reply.code == "Disconnect-ACK", reply.output + lab.diagnostics()
    _timing("Disconnect-Request to Disconnect-ACK (radclient run)", reply.seconds)
    _timing("Disconnect-ACK to port unauthorized", device.wait_unauthorized(timeout=5))
    lab.wait_for_log(rf"RADIUS DAS: Found a matching session {device.mac}", since=log_mark)
    lab.wait_for_log(rf"AP-STA-DISCONNECTED {device.mac}", since=log_mark)
    site.server.wait_for(
        "accounting",
        since=since,
        status_type="stop",
        calling_station=device.calling_station_id,
        session_id=session_id,
    )
    assert lab.authorized_stations() == set()
    # Nobody told the device: it still believes it is authorized (see wired_lab's docstring).
    assert device.supplicant_authorized()

    since = site.server.mark()
    device.reauthenticate()
    _timing("re-authentication after the Disconnect", device.wait_authorized())
    site.server.wait_for("access", since=since, outcome="accept", user=MEMBER)
    again = site.server.wait_for(
        "accounting", since=since, status_type="start", calling_station=device.calling_station_id
    )
    # Not asserted (hostapd's business), shown for the session code: within hostapd's 5 s
    # the new session has the closed one's Acct-Session-Id (wired_lab's docstring).
    print(f"[wired-lab fact] Acct-Session-Id before {session_id}, after {again['session_id']}")


def test_what_the_das_answers(lab: WiredLab, site: LabSite) -> None:
    """The NAKs (and silences) a Disconnect sender must expect from hostapd, and that a
    member's two devices on one access point are told apart only by the station."""
    first = lab.start_device(MEMBER, MEMBER_PIN)
    second = lab.start_device(MEMBER, MEMBER_PIN)
    other = lab.start_device(OTHER, OTHER_PIN)
    for device in (first, second, other):
        device.wait_authorized()
    assert lab.authorized_stations() == {first.mac, second.mac, other.mac}

    unknown = lab.disconnect({"Calling-Station-Id": "02-00-00-00-00-01"})
    assert unknown.code == "Disconnect-NAK", unknown.output
    assert unknown.error_cause == "Session-Context-Not-Found"  # 503

    nobody = lab.disconnect({"User-Name": "nobody@example.org"})
    assert nobody.error_cause == "Session-Context-Not-Found"

    both = lab.disconnect({"User-Name": MEMBER})
    assert both.code == "Disconnect-NAK", both.output
    assert both.error_cause == "Multiple-Session-Selection-Unsupported"  # 508

    wrong_nas = lab.disconnect(
        {"Calling-Station-Id": first.calling_station_id, "NAS-Identifier": "another-ap"}
    )
    assert wrong_nas.error_cause == "NAS-Identification-Mismatch"  # 403

    extra = lab.disconnect(
        {"Calling-Station-Id": first.calling_station_id, "Framed-IP-Address": "192.0.2.1"}
    )
    assert extra.error_cause == "Unsupported-Attribute"  # 401

    # A wrong secret or no Event-Timestamp: dropped without an answer.
    target = {"Calling-Station-Id": first.calling_station_id}
    assert lab.disconnect(target, timeout=1, secret="not-the-das-secret").code is None
    assert lab.disconnect({**target, "Event-Timestamp": None}, timeout=1).code is None
    assert lab.port_authorized(first.mac)

    # What the accounting record holds picks exactly one device of the member.
    session_id = lab.acct_session_id(first.mac)
    assert session_id is not None
    one = lab.disconnect(
        {
            "Calling-Station-Id": first.calling_station_id,
            "Acct-Session-Id": session_id,
            "User-Name": MEMBER,
            "NAS-IP-Address": "127.0.0.1",
            "NAS-Identifier": str(lab.nas_identifier),
        }
    )
    assert one.code == "Disconnect-ACK", one.output
    first.wait_unauthorized(timeout=5)
    assert lab.authorized_stations() == {second.mac, other.mac}
    # Acct-Session-Id alone is enough too.
    by_session = lab.disconnect({"Acct-Session-Id": str(lab.acct_session_id(other.mac))})
    assert by_session.code == "Disconnect-ACK", by_session.output
    other.wait_unauthorized(timeout=5)
    assert lab.authorized_stations() == {second.mac}


def test_the_lab_leaves_nothing_behind_after_a_failure(site: LabSite, tmp_path: Path) -> None:
    """A test failing inside the lab, or hostapd failing to start, still removes
    everything: processes, namespace, links, socket directory."""
    lab = site.lab(work_dir=tmp_path / "failing")
    with pytest.raises(RuntimeError, match="the test failed"), lab:
        lab.start_device(MEMBER, MEMBER_PIN)
        raise RuntimeError("the test failed")
    assert leftovers(lab.name) == []

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))
        busy = site.lab(work_dir=tmp_path / "busy", das_port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="hostapd did not start"), busy:
            pass
    assert "RADIUS DAS: bind" in busy.hostapd_log.text()
    assert leftovers(busy.name) == []
