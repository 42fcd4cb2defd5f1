"""Issue 13 with real equipment: the access point puts the device on its plan's VLAN.

hostapd (wired 802.1X, ``dynamic_vlan``) is the access point and wpa_supplicant the
member's device (``tests/integration/wired_lab.py``, whose docstring says what hostapd's
wired driver can and cannot do with a VLAN), in front of ``radius-server serve`` set up with
the CLI: plan ``desk`` (VLAN 20) and plan ``guest`` (VLAN 30). The access point knows VLANs
20 and 30 and requires one (``dynamic_vlan=2``): each member's station gets its plan's VLAN
(``vlan_id`` in hostapd's station table, ``RADIUS: VLAN ID`` in its log), and a member
on the default plan, whose Accept carries no VLAN, is refused by the access point itself.
Needs root, hostapd, wpasupplicant and freeradius-utils: under CI=true a missing one fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.wired_lab import LabSite, WiredLab, lab_site, leftovers, require_lab

pytestmark = [pytest.mark.tools, pytest.mark.lab]

DESK = "ada@example.org"  # plan desk: VLAN 20
GUEST = "bob@example.org"  # plan guest: VLAN 30
PLAIN = "carla@example.org"  # the default plan: no VLAN
PINS = {DESK: "24680", GUEST: "13579", PLAIN: "11223"}  # unique among members


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSite]:
    """The server (SQLite) with the lab's NAS, two plans with VLANs and three members."""
    require_lab()
    work = tmp_path_factory.mktemp("plans-vlan")
    with lab_site(f"sqlite:///{work / 'radius.db'}", work, PINS) as made:
        for args in (
            ("plan", "add", "desk", "--vlan", "20"),
            ("plan", "add", "guest", "--vlan", "30"),
            ("customer", "update", DESK, "--plan", "desk"),
            ("customer", "update", GUEST, "--plan", "guest"),
        ):
            done = made.cli(*args)
            assert done.code == 0, f"{' '.join(args)}: {done.err}"
        yield made


@pytest.fixture
def lab(site: LabSite, tmp_path: Path) -> Iterator[WiredLab]:
    """An access point with VLANs 20 and 30 that refuses an Accept without a VLAN."""
    with site.lab(work_dir=tmp_path, vlans=(20, 30), vlan_required=True) as made:
        yield made
    assert leftovers(made.name) == []


def test_each_member_lands_on_the_vlan_of_their_plan(site: LabSite, lab: WiredLab) -> None:
    since = site.server.mark()
    mark = lab.log_mark()
    desk = lab.start_device(DESK, PINS[DESK])
    guest = lab.start_device(GUEST, PINS[GUEST])
    desk.wait_authorized()
    guest.wait_authorized()
    # The access point's own view: each station on its plan's VLAN.
    assert lab.station_vlan(desk.mac) == 20
    assert lab.station_vlan(guest.mac) == 30
    lab.wait_for_log(rf"STA {desk.mac} RADIUS: VLAN ID 20", since=mark)
    lab.wait_for_log(rf"STA {guest.mac} RADIUS: VLAN ID 30", since=mark)
    # hostapd's VLAN machinery set each VLAN up: its interface in its bridge.
    assert lab.bridge_ports(lab.vlan_bridge(20)) == {lab.vlan_ifname(20)}
    assert lab.bridge_ports(lab.vlan_bridge(30)) == {lab.vlan_ifname(30)}
    for email, plan in ((DESK, "desk"), (GUEST, "guest")):
        line = site.server.wait_for("access", since=since, outcome="accept", user=email)
        assert line["plan"] == plan


def test_a_member_without_a_vlan_is_refused_by_the_access_point(
    site: LabSite, lab: WiredLab
) -> None:
    since = site.server.mark()
    mark = lab.log_mark()
    device = lab.start_device(PLAIN, PINS[PLAIN])
    # Our server accepts (the default plan has no rule against it)...
    line = site.server.wait_for("access", since=since, outcome="accept", user=PLAIN)
    assert line["plan"] == "default"
    # ...but the access point requires a VLAN (dynamic_vlan=2) and keeps the port closed.
    lab.wait_for_log(
        rf"STA {device.mac} .*did not include required VLAN ID in Access-Accept", since=mark
    )
    assert not lab.port_authorized(device.mac)
    assert lab.station_vlan(device.mac) is None
