"""Issue 13 "Live" with real equipment: an online member's plan changes, hostapd refuses the
CoA-Request, and the Disconnect-Request that follows de-authorizes the port.

hostapd (wired 802.1X, its RFC 5176 DAS) is the access point, marked as taking
CoA-Requests (the NAS's coa flag), and wpa_supplicant the member's device
(``tests/integration/wired_lab.py``), in front of ``radius-server serve`` on
PostgreSQL. Debian's hostapd answers any CoA-Request carrying authorization
attributes with a CoA-NAK, Error-Cause 401 (test_dynauth_hostapd.py): the server
must then fall back to a Disconnect-Request, and the device signs in again under
the new plan. Needs root, hostapd, wpasupplicant and freeradius-utils: under
CI=true a missing one fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from radius_server.store import database, disconnects, journal
from radius_server.store.models import AccessPlan, Customer, RadiusClient
from tests.integration.wired_lab import LabSite, WiredLab, free_udp_port, lab_site, require_lab

pytestmark = [pytest.mark.tools, pytest.mark.lab]

MEMBER = "ada@example.org"
MEMBER_PIN = "24680"


def _timing(step: str, seconds: float) -> None:
    # Shown with pytest -s; never asserted.
    print(f"[plans-live timing] {step}: {seconds:.3f} s")


@pytest.fixture
def site(pg_url: str, tmp_path: Path) -> Iterator[LabSite]:
    """The server on a fresh PostgreSQL database, with the lab's NAS and one member."""
    require_lab()
    with lab_site(pg_url, tmp_path, {MEMBER: MEMBER_PIN}, upgrade=True) as made:
        yield made


@pytest.fixture
def lab(site: LabSite, tmp_path: Path) -> Iterator[WiredLab]:
    """The access point, its DAS port on the NAS record (``nas update --coa-port``)."""
    das_port = free_udp_port()
    done = site.cli("nas", "update", "lab", "--coa-port", str(das_port))
    assert done.code == 0, done.err
    with site.lab(work_dir=tmp_path / "ap", das_port=das_port) as made:
        yield made


def _mark_coa(pg_url: str) -> None:
    """The lab NAS takes CoA-Requests (as ``nas update lab --coa``), through the change feed."""
    engine = database.make_engine(pg_url)
    try:
        with database.make_session_factory(engine)() as session:
            client = session.scalars(select(RadiusClient).where(RadiusClient.name == "lab")).one()
            client.coa = True
            journal.record_change(session, journal.CLIENT, client.id)
            session.commit()
    finally:
        engine.dispose()


def _assign_plan(pg_url: str) -> None:
    """The member moves to a new plan, with its plan_changed job, in one transaction.

    What ``customer update --plan`` does (the change, the feed entries, the job).
    """
    engine = database.make_engine(pg_url)
    try:
        with database.make_session_factory(engine)() as session:
            plan = AccessPlan(name="hot-desk", session_timeout=7200)
            session.add(plan)
            session.flush()
            journal.record_change(session, journal.PLAN, plan.id)
            member = session.scalars(select(Customer).where(Customer.email == MEMBER)).one()
            session.execute(
                update(Customer).where(Customer.id == member.id).values(plan_id=plan.id)
            )
            journal.record_change(session, journal.CUSTOMER, member.id)
            disconnects.enqueue(session, MEMBER, disconnects.PLAN_CHANGED, "tester")
            session.commit()
    finally:
        engine.dispose()


def test_hostapd_naks_the_coa_and_the_disconnect_follows(
    pg_url: str, site: LabSite, lab: WiredLab
) -> None:
    since = site.server.mark()
    _mark_coa(pg_url)
    site.server.wait_for("client_updated", since=since, client="lab")

    since = site.server.mark()
    device = lab.start_device(MEMBER, MEMBER_PIN)
    _timing("sign-in", device.wait_authorized())
    site.server.wait_for(
        "accounting", since=since, status_type="start", calling_station=device.calling_station_id
    )

    since = site.server.mark()
    log_mark = lab.log_mark()
    changed = time.monotonic()
    _assign_plan(pg_url)
    # hostapd got our CoA-Request (Session-Timeout of the new plan) and refused it...
    lab.wait_for_log(r"DAS: Unsupported attribute 27 in CoA-Request", since=log_mark)
    nak = site.server.wait_for("coa_nak", since=since, user=MEMBER)
    assert (nak["error_cause"], nak["error_name"]) == (401, "Unsupported-Attribute")
    assert (nak["reason"], nak["plan"]) == ("plan_changed", "hot-desk")
    # ...so the Disconnect-Request followed, and the port is closed.
    device.wait_unauthorized(timeout=10.0)
    _timing("plan change committed to port unauthorized", time.monotonic() - changed)
    lab.wait_for_log(rf"RADIUS DAS: Found a matching session {device.mac}", since=log_mark)
    acked = site.server.wait_for("disconnect_acked", since=since, user=MEMBER)
    assert (acked["fallback"], acked["plan"]) == ("coa_nak", "hot-desk")
    done = site.server.wait_for("disconnect_job_done", since=since, reason="plan_changed")
    assert (done["coa_nak"], done["acked"], done["coa_acked"]) == (1, 1, 0)
    assert not lab.port_authorized(device.mac)

    # The device signs in again (the PIN is unchanged), under the new plan.
    since = site.server.mark()
    device.reauthenticate()
    device.wait_authorized()
    site.server.wait_for(
        "access", since=since, outcome="accept", calling_station=device.calling_station_id
    )
    assert lab.port_authorized(device.mac)
