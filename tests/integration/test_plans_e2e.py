"""Issue 13 end to end over UDP: a member's plan in the Access-Accept, and the plan's rules.

Debian's ``radclient`` (PAP, CHAP) and ``eapol_test`` (PEAP/MS-CHAPv2) against
``radius-server serve``, set up with the CLI only: a NAS at location ``hq`` that says it is a
MikroTik, a plan ``desk`` (VLAN 20, 10000/2000 kbit/s, ``Filter-Id = members``), a plan valid
only on another weekday, a plan valid only at another location, and a member on the default
plan. The Accept carries the RFC 3580 tunnel attributes (RFC 2868), the vendor's bandwidth
attribute and the extra reply attribute, beside the MS-MPPE keys for EAP; the rules reject
with ``outside_hours`` / ``wrong_location`` in the ``access`` log line, which names the plan.
Runs on SQLite and on PostgreSQL. Needs freeradius-utils and eapol_test: under CI=true a
missing one fails.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Cli, create_pg_database, drop_pg_database, require_tool
from tests.integration.radclient_auth import radclient_auth
from tests.integration.server_process import ServerProcess, running_server

pytestmark = pytest.mark.tools

SECRET = "plans-e2e-secret-0123456789"
ZONE = "Europe/Madrid"
MEMBER = "ada@example.org"  # plan desk
PLAIN = "bob@example.org"  # no plan: the default one
ODD_HOURS = "carla@example.org"  # plan only on another weekday
ANNEX = "dan@example.org"  # plan valid only at the annex
# PINs are unique among members (rules/pins.py).
PINS = {MEMBER: "24680", PLAIN: "13579", ODD_HOURS: "11223", ANNEX: "46802"}

VLAN = "20"
DOWN_KBPS, UP_KBPS = 10000, 2000
VENDOR_MIKROTIK = 14988
MIKROTIK_RATE_LIMIT = 8
VENDOR_MICROSOFT = 311
MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY = 16, 17
TUNNEL_TYPE, TUNNEL_MEDIUM_TYPE, TUNNEL_PRIVATE_GROUP_ID = 64, 65, 81
FILTER_ID = 11
TUNNEL_TYPE_VLAN, TUNNEL_MEDIUM_IEEE_802 = 13, 6  # RFC 3580 3.31


def another_weekday() -> str:
    """A weekly window that cannot hold the present: two days from today at the location."""
    today = dt.datetime.now(ZoneInfo(ZONE)).weekday()
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[(today + 2) % 7]
    return f"{day} 10:00-11:00"


@dataclass
class Site:
    """The server under test and how to reach it."""

    server: ServerProcess
    cli: Cli
    ca_cert: Path
    work: Path


def _ok(cli: Cli, *args: str) -> None:
    done = cli(*args)
    assert done.code == 0, f"{' '.join(args)}: {done.err}"


@contextmanager
def _plans_site(url: str, work: Path, *, upgrade: bool = False) -> Iterator[Site]:
    """A server on ``url`` with the plans, locations, NAS and members the tests need."""
    require_tool("radclient")
    require_tool("eapol_test")
    cli = Cli(url, work)
    if upgrade:
        _ok(cli, "db", "upgrade")
    _ok(cli, "location", "add", "hq", "--timezone", ZONE)
    _ok(cli, "location", "add", "annex", "--timezone", ZONE)
    _ok(cli, "nas", "add", "lo", "--address", "127.0.0.1/32", "--secret", SECRET)
    _ok(cli, "nas", "update", "lo", "--vendor", "mikrotik", "--location", "hq")
    _ok(
        cli,
        *("plan", "add", "desk", "--vlan", VLAN),
        *("--down", str(DOWN_KBPS), "--up", str(UP_KBPS)),
        *("--reply", "Filter-Id = members"),
    )
    _ok(cli, "plan", "add", "odd-hours", "--hours", another_weekday())
    _ok(cli, "plan", "add", "annex-pass", "--vlan", "30", "--locations", "annex")
    for email, plan in (
        (MEMBER, "desk"),
        (PLAIN, None),
        (ODD_HOURS, "odd-hours"),
        (ANNEX, "annex-pass"),
    ):
        _ok(cli, "customer", "add", email, "--pin", PINS[email])
        if plan is not None:
            _ok(cli, "customer", "update", email, "--plan", plan)
    _ok(cli, "certs", "generate", "--hostname", "radius.test.lan")
    data_dir = work / "data"
    with running_server(url, data_dir) as server:
        server.wait_for("eap_enabled")
        yield Site(server, cli, data_dir / "certs" / "ca.pem", work)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The site on SQLite, then on the real PostgreSQL (production)."""
    work = tmp_path_factory.mktemp(f"plans-{request.param}")
    if request.param == "sqlite":
        with _plans_site(f"sqlite:///{work / 'radius.db'}", work) as made:
            yield made
        return
    pg_server = request.getfixturevalue("pg_server")
    url = create_pg_database(pg_server)
    try:
        with _plans_site(url, work, upgrade=True) as made:
            yield made
    finally:
        drop_pg_database(pg_server, url)


# -- radclient -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What radclient heard: the code and the attributes as it prints them."""

    code: str | None  # "Access-Accept", "Access-Reject", None (no answer)
    attributes: list[tuple[str, str]]  # (name, value), quotes removed, in order
    output: str

    def values(self, pattern: str) -> list[str]:
        """The values of the attributes whose name matches ``pattern`` (a tag is
        ``Name:1``)."""
        return [value for name, value in self.attributes if re.fullmatch(pattern, name)]


def radclient(site: Site, pairs: str) -> Reply:
    """One Access-Request from Debian's radclient (``pairs`` in its syntax)."""
    proc = radclient_auth(site.server.auth_port, SECRET, pairs)
    output = proc.stdout + proc.stderr
    match = re.search(r"^Received (\S+) Id", output, re.MULTILINE)
    if match is None:
        return Reply(None, [], output)
    attributes = []
    for line in output[match.end() :].splitlines()[1:]:
        if not line.startswith(("\t", " ")):
            break
        name, _, value = line.strip().partition(" = ")
        attributes.append((name, value.strip('"')))
    return Reply(match.group(1), attributes, output)


def pap(site: Site, email: str) -> Reply:
    return radclient(site, f'User-Name = "{email}", User-Password = "{PINS[email]}"')


def chap(site: Site, email: str) -> Reply:
    # radclient computes CHAP-Password (RFC 1994 MD5 over id, secret, challenge) from the
    # cleartext it is given.
    return radclient(site, f'User-Name = "{email}", CHAP-Password = "{PINS[email]}"')


def assert_plan_in_reply(reply: Reply) -> None:
    """The ``desk`` plan, as radclient decodes it with FreeRADIUS's dictionaries."""
    assert reply.code == "Access-Accept", reply.output
    # RFC 3580 3.31: the three tunnel attributes, tagged alike (RFC 2868 3.1).
    assert reply.values(r"Tunnel-Type(:\d+)?") == ["VLAN"], reply.output
    assert reply.values(r"Tunnel-Medium-Type(:\d+)?") == ["IEEE-802"], reply.output
    assert reply.values(r"Tunnel-Private-Group-Id(:\d+)?") == [VLAN], reply.output
    tags = {
        name.partition(":")[2]
        for name, _ in reply.attributes
        if name.startswith(("Tunnel-Type", "Tunnel-Medium-Type", "Tunnel-Private-Group-Id"))
    }
    assert len(tags) == 1, reply.output
    # MikroTik's rate limit reads rx/tx from the router's side: the member's upload first.
    assert reply.values("Mikrotik-Rate-Limit") == [f"{UP_KBPS}k/{DOWN_KBPS}k"], reply.output
    assert reply.values("Filter-Id") == ["members"], reply.output


@pytest.mark.parametrize("method", [pap, chap], ids=["pap", "chap"])
def test_accept_carries_the_plan(site: Site, method: Callable[[Site, str], Reply]) -> None:
    since = site.server.mark()
    reply = method(site, MEMBER)
    assert_plan_in_reply(reply)
    line = site.server.wait_for("access", since=since, outcome="accept", user=MEMBER)
    assert line["method"] == method.__name__
    assert line["plan"] == "desk"


def test_default_plan_member_gets_no_vlan_and_no_limit(site: Site) -> None:
    since = site.server.mark()
    reply = pap(site, PLAIN)
    assert reply.code == "Access-Accept", reply.output
    assert reply.values(r"Tunnel-.*") == []
    assert reply.values("Mikrotik-Rate-Limit") == []
    assert reply.values("Filter-Id") == []
    line = site.server.wait_for("access", since=since, outcome="accept", user=PLAIN)
    assert line["plan"] == "default"


@pytest.mark.parametrize("method", [pap, chap], ids=["pap", "chap"])
def test_outside_the_plans_hours_is_rejected(
    site: Site, method: Callable[[Site, str], Reply]
) -> None:
    since = site.server.mark()
    reply = method(site, ODD_HOURS)
    assert reply.code == "Access-Reject", reply.output
    assert reply.values("Reply-Message"), reply.output  # tells the member which rule
    line = site.server.wait_for("access", since=since, outcome="reject", user=ODD_HOURS)
    assert line["reason"] == "outside_hours"
    assert line["plan"] == "odd-hours"


def test_at_a_location_outside_the_plan_is_rejected(site: Site) -> None:
    since = site.server.mark()
    reply = pap(site, ANNEX)
    assert reply.code == "Access-Reject", reply.output
    assert reply.values("Reply-Message"), reply.output
    assert reply.values(r"Tunnel-.*") == []
    line = site.server.wait_for("access", since=since, outcome="reject", user=ANNEX)
    assert line["reason"] == "wrong_location"
    assert line["plan"] == "annex-pass"


# -- eapol_test ----------------------------------------------------------------------------


def eapol_test(site: Site, email: str) -> subprocess.CompletedProcess[str]:
    """A PEAP/MS-CHAPv2 sign-in with wpa_supplicant's eapol_test (as tests/integration/
    test_eap.py runs it)."""
    tool = require_tool("eapol_test")
    conf = site.work / f"eapol-{secrets.token_hex(4)}.conf"
    conf.write_text(
        "network={\n"
        '  ssid="test"\n  key_mgmt=WPA-EAP\n  eap=PEAP\n  phase2="auth=MSCHAPV2"\n'
        f'  identity="{email}"\n  password="{PINS[email]}"\n  anonymous_identity="anonymous"\n'
        f'  ca_cert="{site.ca_cert}"\n  domain_match="radius.test.lan"\n'
        "}\n"
    )
    return subprocess.run(
        [
            *(tool, "-c", str(conf), "-a", "127.0.0.1", "-p", str(site.server.auth_port)),
            *("-s", SECRET, "-r", "0", "-t", "10"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


VALUE = "      Value: "  # how eapol_test's dump prints an attribute's value


def accept_attributes(stdout: str) -> list[tuple[int, int, bytes | None]]:
    """The attributes of the last Access-Accept in eapol_test's dump: (RFC 2865 type, value
    length, value). The dump gives ``Attribute 64 (Tunnel-Type) length=6`` then
    ``Value: 0100000d`` (hex), ``Value: 'text'`` or ``Value: 600`` (integers); for types its
    table does not know (Filter-Id) only the length: the value is None."""
    start = stdout.rfind("(Access-Accept)")
    assert start >= 0, stdout[-3000:]
    found: list[tuple[int, int, bytes | None]] = []
    lines = [*stdout[start:].splitlines()[1:], ""]
    for line, following in itertools.pairwise(lines):
        head = re.match(r"^\s+Attribute (\d+) \(.*\) length=(\d+)$", line)
        if head is None:
            if not line.startswith(VALUE):
                break  # the end of the dump
            continue
        kind, length = int(head.group(1)), int(head.group(2)) - 2
        value = following.removeprefix(VALUE)
        data: bytes | None
        if not following.startswith(VALUE):
            data = None
        elif value.startswith("'"):
            data = value[1:-1].encode()
        elif re.fullmatch(r"[0-9a-f]+", value) and len(value) == 2 * length:
            data = bytes.fromhex(value)
        else:
            data = int(value).to_bytes(length, "big")
        found.append((kind, length, data))
    return found


def vendor_attributes(
    attributes: list[tuple[int, int, bytes | None]],
) -> dict[tuple[int, int], bytes]:
    """Vendor-Specific (26) contents by (vendor id, vendor type), RFC 2865 5.26 layout."""
    out = {}
    for kind, _, data in attributes:
        if kind == 26 and data is not None:
            vendor = int.from_bytes(data[:4], "big")
            out[(vendor, data[4])] = data[6 : 4 + data[5]]
    return out


def test_eap_accept_carries_the_plan_beside_the_mppe_keys(site: Site) -> None:
    since = site.server.mark()
    result = eapol_test(site, MEMBER)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in result.stdout
    attributes = accept_attributes(result.stdout)
    by_type: dict[int, list[bytes | None]] = {}
    for kind, _, data in attributes:
        by_type.setdefault(kind, []).append(data)
    # Tunnel-Type / -Medium-Type: a tag octet then a 3-octet value; the group id: a tag
    # octet (RFC 2868 3.6: present when below 0x20) then the VLAN as text.
    (tunnel_type,) = by_type[TUNNEL_TYPE]
    (medium,) = by_type[TUNNEL_MEDIUM_TYPE]
    (group,) = by_type[TUNNEL_PRIVATE_GROUP_ID]
    assert tunnel_type is not None and medium is not None and group is not None
    assert int.from_bytes(tunnel_type[1:], "big") == TUNNEL_TYPE_VLAN
    assert int.from_bytes(medium[1:], "big") == TUNNEL_MEDIUM_IEEE_802
    tag = tunnel_type[0]
    assert medium[0] == tag
    assert group == (bytes([tag]) if tag else b"") + VLAN.encode()
    # eapol_test does not print Filter-Id's value: its length is that of "members" (the
    # value itself is checked over radclient above).
    assert [length for kind, length, _ in attributes if kind == FILTER_ID] == [len("members")]
    vendor = vendor_attributes(attributes)
    assert vendor[(VENDOR_MIKROTIK, MIKROTIK_RATE_LIMIT)] == f"{UP_KBPS}k/{DOWN_KBPS}k".encode()
    assert (VENDOR_MICROSOFT, MS_MPPE_SEND_KEY) in vendor
    assert (VENDOR_MICROSOFT, MS_MPPE_RECV_KEY) in vendor
    line = site.server.wait_for(
        "access", since=since, outcome="accept", method="peap-mschapv2", user=MEMBER
    )
    assert line["plan"] == "desk"


def test_eap_sign_in_outside_the_plans_hours_is_rejected(site: Site) -> None:
    since = site.server.mark()
    result = eapol_test(site, ODD_HOURS)
    assert result.returncode != 0
    assert "CTRL-EVENT-EAP-FAILURE" in result.stdout
    line = site.server.wait_for("access", since=since, outcome="reject", user=ODD_HOURS)
    assert line["reason"] == "outside_hours"
    assert line["plan"] == "odd-hours"
