"""``plan``, ``location``, and the plan options of ``customer`` and ``nas``, through the real
console script, on both back ends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store import database
from radius_server.store.access_plans import PlanRepository
from radius_server.store.customers import CustomerRepository
from tests.conftest import Cli, CliResult
from tests.integration.test_cli import failed, ok
from tests.integration.test_plan_store import seed_default_plan

SQLITE_ONLY = pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)


@pytest.fixture
def sessions(clean_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = database.make_engine(clean_db_url)
    factory = database.make_session_factory(engine)
    seed_default_plan(factory)
    try:
        yield factory
    finally:
        engine.dispose()


@pytest.fixture
def cli(clean_cli: Cli, sessions: sessionmaker[Session]) -> Cli:
    return clean_cli


def as_json(result: CliResult) -> object:
    return json.loads(ok(result).out)


def test_the_readme_example(cli: Cli, sessions: sessionmaker[Session]) -> None:
    """Hot desk weekdays 8-19 on VLAN 20, a day pass, guests by default; a member on each."""
    ok(cli("location", "add", "Centro", "--timezone", "Europe/Madrid"))
    ok(cli("location", "add", "Norte"))
    out = ok(
        cli(
            "plan", "add", "hot-desk", "--vlan", "20", "--down", "50000", "--up", "10000",
            "--hours", "Mon-Fri 08:00-19:00", "--locations", "Centro,Norte",
            "--reply", 'Filter-Id = "members"', "--reply", "Aruba-User-Role = member",
        )
    ).out  # fmt: skip
    assert "added plan hot-desk" in out
    assert 'Filter-Id = "members"' in out and 'Aruba-User-Role = "member"' in out
    ok(cli("plan", "add", "day-pass", "--session-timeout", "36000", "--device-limit", "1"))
    ok(cli("plan", "add", "guests", "--vlan", "30", "--down", "5000", "--default"))
    CustomerRepository(sessions).add("ana@example.com")
    ok(cli("customer", "update", "ana@example.com", "--plan", "Hot-Desk"))
    CustomerRepository(sessions).add("bo@example.com")

    table = ok(cli("plan", "list")).out.splitlines()
    assert table[0].split()[:3] == ["NAME", "DEFAULT", "MEMBERS"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["hot-desk"][1:3] == ["no", "1"]
    assert rows["guests"][1:3] == ["yes", "1"]
    plans = as_json(cli("plan", "list", "--json"))
    assert isinstance(plans, list)
    assert {p["name"]: p["members"] for p in plans} == {
        "day-pass": 0,
        "default": 0,
        "guests": 1,
        "hot-desk": 1,
    }
    shown = as_json(cli("plan", "show", "hot-desk", "--json"))
    assert isinstance(shown, dict)
    assert shown["locations"] == ["Centro", "Norte"]
    assert shown["hours"] == "Mon-Fri 08:00-19:00"
    assert shown["reply_attributes"] == [["Filter-Id", "members"], ["Aruba-User-Role", "member"]]

    listing = ok(cli("customer", "list")).out
    assert "hot-desk" in listing and "default (guests)" in listing
    # The default plan's members include those without a plan of their own.
    on_default = as_json(cli("customer", "list", "--plan", "default", "--json"))
    assert isinstance(on_default, list)
    assert [c["email"] for c in on_default] == ["bo@example.com"]
    member = as_json(cli("customer", "show", "bo@example.com", "--json"))
    assert isinstance(member, dict)
    assert (member["plan"], member["plan_id"]) == (None, None)
    assert "Centro" in ok(cli("location", "list")).out


def test_update_clears_and_replaces(cli: Cli, sessions: sessionmaker[Session]) -> None:
    ok(cli("plan", "add", "staff", "--vlan", "10", "--hours", "Mon-Sun 06:00-23:00",
           "--reply", "Filter-Id = staff"))  # fmt: skip
    ok(cli("plan", "update", "staff", "--vlan", "none", "--hours", "none", "--reply",
           "Filter-Id = crew", "--reply", "Framed-MTU = 1400", "--name", "crew"))  # fmt: skip
    record = PlanRepository(sessions).get("crew")
    assert (record.vlan, record.hours) == (None, None)
    assert record.reply_attributes == (("Filter-Id", "crew"), ("Framed-MTU", "1400"))
    ok(cli("plan", "update", "crew", "--clear-replies"))
    assert PlanRepository(sessions).get("crew").reply_attributes == ()
    shown = ok(cli("plan", "show", "crew")).out
    assert "any time" in shown and "all" in shown
    ok(cli("plan", "remove", "crew"))
    assert [p.record.name for p in PlanRepository(sessions).find()] == ["default"]


def test_refusals_are_one_line(cli: Cli, sessions: sessionmaker[Session]) -> None:
    failed(cli("plan", "remove", "default"), "default plan")
    CustomerRepository(sessions).add("ana@example.com")
    ok(cli("plan", "add", "day"))
    ok(cli("customer", "update", "ana@example.com", "--plan", "day"))
    failed(cli("plan", "remove", "day"), "used by 1 member")
    failed(cli("plan", "add", "x", "--locations", "Centro,Nowhere"), "Centro")
    failed(cli("customer", "update", "ana@example.com", "--plan", "ghost"), "ghost")
    ok(cli("location", "add", "Centro"))
    ok(cli("nas", "add", "ap1", "--address", "10.0.0.1", "--location", "centro"))
    failed(cli("location", "remove", "Centro"), "NAS ap1")
    failed(cli("location", "add", "Mars", "--timezone", "Mars/Olympus"), "Mars/Olympus")
    error = as_json_error(cli("plan", "add", "day", "--json"))
    assert "already exists" in error


def as_json_error(result: CliResult) -> str:
    assert result.code == 1 and "Traceback" not in result.err
    data = json.loads(result.out)
    assert isinstance(data, dict)
    return str(data["error"])


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("words", "needle"),
    [
        (["plan", "add", "x", "--vlan", "5000"], "vlan must be a whole number 1-4094"),
        (["plan", "add", "x", "--reply", "Filter-Id"], "Name = value"),
        (["plan", "add", "x", "--locations", "A", "--all-locations"], "not allowed with"),
        (["plan", "update", "x", "--down", "fast"], "down-kbps"),
        (["nas", "update", "ap1", "--vendor", "netgear"], "invalid choice"),
    ],
)
def test_usage_errors_name_the_option(cli: Cli, words: list[str], needle: str) -> None:
    result = cli(*words)
    assert result.code == 2 and "Traceback" not in result.err
    assert needle in result.err


def test_nas_vendor_location_and_coa(cli: Cli) -> None:
    ok(cli("location", "add", "Centro", "--timezone", "Europe/Madrid"))
    added = as_json(
        cli("nas", "add", "ap1", "--address", "10.0.0.1", "--vendor", "UniFi", "--location",
            "Centro", "--coa-port", "3799", "--coa", "--json")
    )  # fmt: skip
    assert isinstance(added, dict)
    assert (added["vendor"], added["location"], added["coa"]) == ("unifi", "Centro", True)
    result = ok(cli("nas", "update", "ap1", "--location", "none", "--no-coa", "--vendor", "aruba"))
    shown = as_json(cli("nas", "show", "ap1", "--json"))
    assert isinstance(shown, dict)
    assert (shown["vendor"], shown["location"], shown["coa"]) == ("aruba", None, False)
    assert "updated ap1" in result.out
    assert "aruba" in ok(cli("nas", "list")).out
    # CoA without a dynamic authorization port cannot work: said as a warning.
    warned = ok(cli("nas", "update", "ap1", "--coa", "--coa-port", "none"))
    assert "warning:" in warned.err and "CoA" in warned.err


def test_location_update_and_show(cli: Cli) -> None:
    ok(cli("location", "add", "Centro"))
    ok(cli("plan", "add", "local", "--locations", "centro"))
    ok(cli("location", "update", "Centro", "--name", "Sol", "--timezone", "Europe/Madrid"))
    shown = as_json(cli("location", "show", "sol", "--json"))
    assert isinstance(shown, dict)
    assert (shown["name"], shown["timezone"], shown["plans"]) == ("Sol", "Europe/Madrid", ["local"])
    ok(cli("plan", "update", "local", "--all-locations"))
    ok(cli("location", "remove", "Sol"))
    assert as_json(cli("location", "list", "--json")) == []


def test_csv_plan_column_through_the_cli(cli: Cli, sessions: sessionmaker[Session]) -> None:
    ok(cli("plan", "add", "staff"))
    ok(cli("customer", "add", "ana@example.com", "--plan", "staff"))
    exported = ok(cli("customer", "export", "--without-pin")).out
    assert exported.splitlines()[1].endswith(",staff")
    bad = "email,plan\nbo@example.com,ghost\n"
    result = cli("customer", "import", "-", stdin=bad)
    assert result.code == 1 and "line 2 (bo@example.com): unknown plan 'ghost'" in result.err
    assert [c.email for c in CustomerRepository(sessions).find()] == ["ana@example.com"]
