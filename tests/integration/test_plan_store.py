"""Plans and locations in the store, the same on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import plans as plans_rules
from radius_server.store import access_plans as access_plans_module
from radius_server.store import disconnects
from radius_server.store.access_plans import PlanChanges, PlanRepository
from radius_server.store.clients import ClientRepository
from radius_server.store.csv_io import export_text, import_customers
from radius_server.store.customers import CustomerChanges, CustomerRepository
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound
from radius_server.store.locations import LocationRepository
from radius_server.store.models import AccessPlan, AuditEvent, Change, DisconnectJob
from tests.integration.test_disconnect_jobs import open_session

ANA = "ana@example.com"
BO = "bo@example.com"
CY = "cy@example.com"


def seed_default_plan(sessions: sessionmaker[Session]) -> None:
    """The row migration 0006 writes (clean_db_url empties every table)."""
    with sessions() as session:
        if not session.scalar(select(func.count(AccessPlan.id))):
            session.add(
                AccessPlan(
                    name="default", is_default=True, all_locations=True, reply_attributes="[]"
                )
            )
            session.commit()


@pytest.fixture
def sessions(clean_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    seed_default_plan(clean_sessions)
    return clean_sessions


@pytest.fixture
def plans(sessions: sessionmaker[Session]) -> PlanRepository:
    return PlanRepository(sessions, actor="tester")


@pytest.fixture
def places(sessions: sessionmaker[Session]) -> LocationRepository:
    return LocationRepository(sessions, actor="tester")


@pytest.fixture
def members(sessions: sessionmaker[Session]) -> CustomerRepository:
    return CustomerRepository(sessions, actor="tester")


def jobs(sessions: sessionmaker[Session]) -> list[tuple[str | None, str]]:
    with sessions() as session:
        rows = session.scalars(select(DisconnectJob).order_by(DisconnectJob.id))
        return [(r.member_email, r.reason) for r in rows]


def plan_changes(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    with sessions() as session:
        rows = session.scalars(
            select(Change).where(Change.entity.in_(["plan", "location"])).order_by(Change.seq)
        )
        return [(c.entity, c.entity_id) for c in rows]


def audit_actions(sessions: sessionmaker[Session]) -> list[tuple[str, str, dict[str, object]]]:
    with sessions() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(r.action, r.target, json.loads(r.details or "{}")) for r in rows]


def test_add_show_and_list_with_member_counts(
    plans: PlanRepository, places: LocationRepository, members: CustomerRepository
) -> None:
    places.add("Madrid", "Europe/Madrid")
    places.add("Bcn", "Europe/Madrid")
    hot = plans.add(
        "Hot desk",
        {"vlan": 20, "down_kbps": 20000, "up_kbps": 5000, "hours": "Mon-Fri  08:00-19:00"},
        locations=("madrid", "BCN"),
        reply_attributes=(("Filter-Id", "members"),),
    )
    assert hot.vlan == 20 and hot.hours == "Mon-Fri 08:00-19:00"
    assert hot.reply_attributes == (("Filter-Id", "members"),)
    members.add(ANA, plan="hot desk")
    members.add(BO)
    members.add(CY)
    view = plans.show("HOT DESK")
    assert view.members == 1
    assert [loc.name for loc in view.locations or ()] == ["Bcn", "Madrid"]
    assert view.to_dict()["locations"] == ["Bcn", "Madrid"]
    counts = {v.record.name: v.members for v in plans.find()}
    # Members without a plan count for the default plan.
    assert counts == {"default": 2, "Hot desk": 1}
    assert [c.email for c in members.find(plan="HOT DESK")] == [ANA]
    assert [c.email for c in members.find(plan="default")] == [BO, CY]
    with pytest.raises(NotFound, match="nope"):
        members.find(plan="nope")
    assert plans.get("hot desk").definition().location_ids == hot.location_ids


def test_names_are_unique_ignoring_case_and_sane(plans: PlanRepository) -> None:
    plans.add("Day pass")
    with pytest.raises(AlreadyExists, match="Day pass"):
        plans.add("DAY PASS")
    with pytest.raises(InvalidValue, match="plan name"):
        plans.add("a,b")
    with pytest.raises(InvalidValue, match="vlan"):
        plans.add("bad", {"vlan": 5000})
    with pytest.raises(InvalidValue, match="no field"):
        plans.add("bad", {"colour": 1})
    with pytest.raises(NotFound, match="Nowhere"):
        plans.add("bad", locations=("Nowhere",))
    with pytest.raises(InvalidValue, match="at least one location"):
        plans.add("bad", locations=())
    # Case is ignored beyond ASCII too, on SQLite as on PostgreSQL.
    plans.add("Ñandú")
    assert plans.get("ñANDÚ").name == "Ñandú"
    with pytest.raises(AlreadyExists, match="Ñandú"):
        plans.add("ÑANDÚ")
    assert [v.record.name for v in plans.find()] == ["Day pass", "default", "Ñandú"]


def test_compile_errors_become_invalid_value_and_nothing_is_written(
    plans: PlanRepository, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(definition: plans_rules.PlanDefinition) -> plans_rules.Plan:
        raise plans_rules.PlanError(f"Filter-Id: not for {definition.name}")

    monkeypatch.setattr(access_plans_module, "compile_plan", refuse)
    with pytest.raises(InvalidValue, match="Filter-Id: not for staff"):
        plans.add("staff", reply_attributes=(("Filter-Id", "x"),))
    with pytest.raises(InvalidValue, match="Filter-Id: not for default"):
        plans.update("default", PlanChanges(settings={"vlan": 3}))
    assert [v.record.name for v in plans.find()] == ["default"]
    assert plans.get("default").vlan is None
    assert plan_changes(sessions) == []


@pytest.mark.parametrize(
    ("pair", "needle"),
    [
        (("Not-An-Attribute", "1"), "'Not-An-Attribute' is not in the dictionary"),
        (("Framed-MTU", "abc"), "'Framed-MTU': 'abc'"),
        (("Class", "x"), "'Class' cannot be set by a plan"),
    ],
)
def test_the_dictionary_refuses_a_bad_reply_attribute_by_name(
    plans: PlanRepository, pair: tuple[str, str], needle: str
) -> None:
    with pytest.raises(InvalidValue, match=needle):
        plans.add("x", reply_attributes=(pair,))
    with pytest.raises(InvalidValue, match=needle):
        plans.update("default", PlanChanges(reply_attributes=(pair,)))
    assert [v.record.name for v in plans.find()] == ["default"]
    assert plans.get("default").reply_attributes == ()


def test_hours_are_stored_canonical_and_bad_hours_refused(plans: PlanRepository) -> None:
    assert plans.add("x", {"hours": "mon-fri 8:00-19:00"}).hours == "Mon-Fri 08:00-19:00"
    with pytest.raises(InvalidValue, match="hours"):
        plans.update("x", PlanChanges(settings={"hours": "Funday 08:00-09:00"}))
    assert plans.get("x").hours == "Mon-Fri 08:00-19:00"


def test_exactly_one_default_and_it_cannot_be_removed(
    plans: PlanRepository, members: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    members.add(ANA)
    members.add(BO)
    guests = plans.add("guests", {"vlan": 30})
    open_session(sessions, ANA, "a1")
    plans.update("guests", PlanChanges(make_default=True))
    defaults = [v.record.name for v in plans.find() if v.record.is_default]
    assert defaults == ["guests"]
    # Ana (online, no plan of her own) now gets guests: one job; Bo is offline.
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]
    with pytest.raises(InvalidValue, match="default plan"):
        plans.remove("guests")
    # The old default is free to go once nobody uses it.
    assert plans.remove("default").name == "default"
    staff = plans.add("staff", default=True)
    assert plans.default_name() == "staff"
    assert plans.get("guests").is_default is False
    assert guests.id != staff.id
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)] * 2


def test_a_plan_in_use_cannot_be_removed(
    plans: PlanRepository, members: CustomerRepository
) -> None:
    plans.add("day")
    members.add(ANA, plan="day")
    members.add(BO, plan="day")
    with pytest.raises(InvalidValue, match="used by 2 member"):
        plans.remove("day")
    members.update(ANA, CustomerChanges(clear_plan=True))
    members.remove(BO)
    assert plans.remove("DAY").name == "day"
    with pytest.raises(NotFound, match="day"):
        plans.get("day")


def test_update_clears_fields_replaces_lists_and_queues_online_members(
    plans: PlanRepository,
    places: LocationRepository,
    members: CustomerRepository,
    sessions: sessionmaker[Session],
) -> None:
    places.add("Madrid", "Europe/Madrid")
    plans.add("hot", {"vlan": 20, "hours": "Mon-Fri 08:00-19:00"}, locations=("Madrid",))
    members.add(ANA, plan="hot")
    members.add(BO, plan="hot")
    members.add(CY)
    open_session(sessions, ANA, "a1")
    open_session(sessions, ANA, "a2")
    open_session(sessions, BO, "b1", stopped=True)
    open_session(sessions, CY, "c1")
    record = plans.update(
        "hot",
        PlanChanges(
            settings={"vlan": None, "hours": None, "session_timeout": 3600},
            all_locations=True,
            reply_attributes=(("Filter-Id", "members"),),
        ),
    )
    assert (record.vlan, record.hours, record.session_timeout) == (None, None, 3600)
    assert record.location_ids is None
    assert record.reply_attributes == (("Filter-Id", "members"),)
    # One job per member online (Ana, twice online), none for Bo (offline) or Cy (other plan).
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]
    action, target, details = audit_actions(sessions)[-1]
    assert (action, target, details["plan_changed_jobs"]) == ("plan.update", "hot", 1)
    assert details["fields"] == [
        "hours",
        "locations",
        "reply_attributes",
        "session_timeout",
        "vlan",
    ]
    # Nothing new: no change, no job, no feed row.
    feed = plan_changes(sessions)
    plans.update("hot", PlanChanges(settings={"session_timeout": 3600}))
    assert plan_changes(sessions) == feed
    # A rename alone changes nothing a NAS sees: no job.
    plans.update("hot", PlanChanges(name="Hot desk"))
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]
    assert plans.get("hot desk").name == "Hot desk"
    # Clearing the reply attributes and limiting to a location again.
    record = plans.update("hot desk", PlanChanges(reply_attributes=(), locations=("madrid",)))
    assert record.reply_attributes == () and record.location_ids is not None
    with pytest.raises(InvalidValue, match="not both"):
        plans.update("hot desk", PlanChanges(locations=("Madrid",), all_locations=True))


def test_editing_the_default_plan_reaches_members_without_a_plan(
    plans: PlanRepository, members: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    plans.add("staff")
    members.add(ANA)
    members.add(BO, plan="staff")
    open_session(sessions, ANA, "a1")
    open_session(sessions, BO, "b1")
    plans.update("default", PlanChanges(settings={"down_kbps": 1000}))
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]


def test_customer_plan_reassignment(
    plans: PlanRepository, members: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    plans.add("staff")
    ana = members.add(ANA)
    assert ana.plan_id is None
    with pytest.raises(NotFound, match="nope"):
        members.update(ANA, CustomerChanges(plan="nope"))
    with pytest.raises(NotFound, match="nope"):
        members.add(BO, plan="nope")
    assert [c.email for c in members.find()] == [ANA]
    members.update(ANA, CustomerChanges(plan="STAFF"))  # offline: no job
    assert jobs(sessions) == []
    open_session(sessions, ANA, "a1")
    members.update(ANA, CustomerChanges(clear_plan=True))
    assert members.get(ANA).plan_id is None
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]
    # The default plan by name is what she already gets: no change, no job.
    record = members.update(ANA, CustomerChanges(plan="default"))
    assert record.plan_id == plans.get("default").id
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]
    # Losing access and a new plan at once: the access job is enough.
    members.update(ANA, CustomerChanges(plan="staff", active=False))
    assert jobs(sessions)[-1] == (ANA, disconnects.DISABLED)
    assert len(jobs(sessions)) == 2
    assert audit_actions(sessions)[-1][2]["plan"] == "staff"


def test_locations(
    places: LocationRepository,
    plans: PlanRepository,
    members: CustomerRepository,
    sessions: sessionmaker[Session],
) -> None:
    nas = ClientRepository(sessions, actor="tester")
    madrid = places.add("Madrid", "Europe/Madrid")
    assert madrid.timezone == "Europe/Madrid"
    with pytest.raises(AlreadyExists):
        places.add("MADRID")
    with pytest.raises(InvalidValue, match="timezone"):
        places.add("Mars", "Mars/Olympus")
    with pytest.raises(InvalidValue, match="location name"):
        places.add("a\x1bb")
    nas.add("ap1", "10.0.0.1", vendor="unifi", location="madrid")
    plans.add("hot", {"hours": "Mon-Fri 08:00-19:00"})
    plans.add("local", locations=("Madrid",))
    with pytest.raises(InvalidValue, match="NAS ap1 and plan\\(s\\) local"):
        places.remove("Madrid")
    view = places.show("madrid")
    assert (view.clients, view.plans) == (("ap1",), ("local",))
    for n in range(2, 8):
        nas.add(f"ap{n}", f"10.0.0.{n}", location="Madrid")
    with pytest.raises(InvalidValue, match="NAS ap1, ap2, ap3, ap4, ap5 and 2 more and plan"):
        places.remove("Madrid")
    for n in range(2, 8):
        nas.remove(f"ap{n}")
    # A new time zone moves the hours of plans with hours, for members online at its NAS.
    members.add(ANA, plan="hot")
    members.add(BO)
    open_session(sessions, ANA, "a1", client="ap1")
    open_session(sessions, BO, "b1", client="ap1")
    renamed = places.update("Madrid", new_name="Madrid Centro", timezone="Europe/Lisbon")
    assert (renamed.name, renamed.timezone) == ("Madrid Centro", "Europe/Lisbon")
    assert jobs(sessions) == [(ANA, disconnects.PLAN_CHANGED)]
    assert ("location", madrid.id) in plan_changes(sessions)
    nas.update("ap1", clear_location=True)
    plans.update("local", PlanChanges(all_locations=True))
    assert places.remove("madrid centro").id == madrid.id
    assert places.find() == []


def test_nas_vendor_location_and_coa(
    places: LocationRepository,
    plans: PlanRepository,
    members: CustomerRepository,
    sessions: sessionmaker[Session],
) -> None:
    nas = ClientRepository(sessions, actor="tester")
    places.add("Madrid")
    record = nas.add("ap1", "10.0.0.1", coa_port=3799, vendor="MikroTik", coa=True)
    assert (record.vendor, record.location_id, record.coa) == ("mikrotik", None, True)
    assert nas.warnings == []
    with pytest.raises(InvalidValue, match="vendor must be one of generic"):
        nas.add("ap2", "10.0.0.2", vendor="netgear")
    with pytest.raises(NotFound, match="Nowhere"):
        nas.update("ap1", location="Nowhere")
    members.add(ANA)
    members.add(BO, plan=plans.add("staff", {"vlan": 10}).name)
    open_session(sessions, ANA, "a1", client="ap1")
    open_session(sessions, BO, "b1", client="ap1")
    # The default plan sets nothing: only Bo's Accept depends on the vendor.
    record = nas.update("ap1", vendor="aruba", location="madrid", coa=False)
    assert (record.vendor, record.coa) == ("aruba", False)
    assert record.location_id == places.get("Madrid").id
    assert jobs(sessions) == [(BO, disconnects.PLAN_CHANGED)]
    nas.update("ap1", coa=True, clear_coa_port=True)
    assert any("CoA" in w for w in nas.warnings)


def test_csv_plan_column(
    plans: PlanRepository, members: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    plans.add("staff")
    members.add(ANA, pin="11111")
    members.add(BO, pin="22222", plan="staff")
    open_session(sessions, BO, "b1")
    text = export_text(sessions)
    assert text.splitlines()[0].endswith(",plan")
    assert "bo@example.com,,22222,yes,yes,,,staff" in text
    bad = "email,plan\nana@example.com,staff\ncy@example.com,ghost\n"
    report = import_customers(sessions, io.StringIO(bad), actor="tester")
    assert [(e.line, e.email) for e in report.errors] == [(3, CY)]
    assert "ghost" in report.errors[0].reason
    assert members.get(ANA).plan_id is None  # no half-write
    good = "email,plan\nana@example.com,STAFF\nbo@example.com,\ncy@example.com,default\n"
    report = import_customers(sessions, io.StringIO(good), actor="tester")
    assert report.ok and report.written
    assert members.get(ANA).plan_id == plans.get("staff").id
    assert members.get(BO).plan_id is None and members.get(CY).plan_id is None
    # Bo was online and left staff for the default plan: one job.
    assert jobs(sessions) == [(BO, disconnects.PLAN_CHANGED)]
    assert audit_actions(sessions)[-1][0::2] == (
        "customer.import",
        {"created": 1, "updated": 2, "plan_changed_jobs": 1},
    )
    # A file from before plans leaves every plan as it is.
    old = "email,name\nana@example.com,Ana\n"
    assert import_customers(sessions, io.StringIO(old), actor="tester").ok
    assert members.get(ANA).plan_id == plans.get("staff").id


def test_the_admin_service_acts_as_its_caller(sessions: sessionmaker[Session]) -> None:
    """Through the admin layer (as an HTTP API would call it): actor, defaults, words."""
    from radius_server.admin import Admin
    from radius_server.admin.clients import NewClient, PlanSetup
    from radius_server.admin.customers import CustomerUpdate, NewCustomer
    from radius_server.admin.plans import NewPlan
    from radius_server.config import Settings

    admin = Admin(Settings(timezone="Europe/Madrid"), sessions, "web:alice")
    assert admin.locations.add("Centro").timezone == "Europe/Madrid"
    view = admin.plans.add(NewPlan("hot", {"vlan": 20}, locations=("centro",)))
    assert (view.members, [loc.name for loc in view.locations or ()]) == (0, ["Centro"])
    admin.customers.add(NewCustomer(ANA, plan="HOT"))
    assert admin.plans.show("hot").members == 1
    record = admin.customers.update(ANA, CustomerUpdate(plan="Default")).record
    assert record.plan_id is None
    admin.clients.add(NewClient("ap1", "10.0.0.1", location="none", vendor="openwrt"))
    result = admin.clients.update("ap1", plans=PlanSetup(location="CENTRO", coa=True))
    assert result.record.location_id == admin.locations.get("Centro").id
    assert result.record.coa is True
    assert admin.locations.show("centro").clients == ("ap1",)
    admin.clients.update("ap1", plans=PlanSetup(location="none"))
    assert admin.clients.get("ap1").location_id is None
    actors = {(action, target) for action, target, _ in audit_actions(sessions)}
    assert ("plan.add", "hot") in actors and ("location.add", "Centro") in actors
    with sessions() as session:
        assert set(session.scalars(select(AuditEvent.actor))) == {"web:alice"}


def test_two_admins_moving_the_default_at_once_leave_one_default(
    plans: PlanRepository, sessions: sessionmaker[Session]
) -> None:
    import threading

    names = [f"p{n}" for n in range(4)]
    for name in names:
        plans.add(name)
    errors: list[BaseException] = []

    def make_default(name: str) -> None:
        # A field changed too: the plan row is written before the flag moves.
        changes = PlanChanges(settings={"vlan": 10 + len(errors)}, make_default=True)
        try:
            PlanRepository(sessions, actor=name).update(name, changes)
        except BaseException as exc:  # reported below
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=make_default, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with sessions() as session:
            defaults = session.scalars(select(AccessPlan.name).where(AccessPlan.is_default))
            assert len(list(defaults)) == 1
    assert errors == []


def test_a_running_servers_view_follows_every_admin_change(
    plans: PlanRepository,
    places: LocationRepository,
    members: CustomerRepository,
    sessions: sessionmaker[Session],
) -> None:
    """The change-feed rows these repositories write are what the directory sync applies."""
    import asyncio

    from radius_server.rules.directory import Directory
    from radius_server.runtime.sync import DirectorySync
    from radius_server.store.feed import ChangeFeed
    from tests.integration.test_change_feed import Log

    nas = ClientRepository(sessions, actor="tester")
    nas.add("ap1", "10.0.0.1")
    members.add(ANA)
    sync = DirectorySync(ChangeFeed(sessions), Directory(), Log())
    view = sync.directory

    async def poll() -> None:
        await sync.poll_once()

    asyncio.run(poll())  # the full load
    assert view.plans.for_member(None) is not None
    centro = places.add("Centro", "Europe/Madrid")
    hot = plans.add("hot", {"vlan": 20, "hours": "Mon-Fri 08:00-19:00"}, locations=("Centro",))
    members.update(ANA, CustomerChanges(plan="hot"))
    nas.update("ap1", vendor="mikrotik", location="Centro", coa=True)
    places.update("Centro", timezone="Europe/Lisbon")
    asyncio.run(poll())
    member = view.members.get(ANA)
    assert member is not None and member.plan_id == hot.id
    plan = view.plans.for_member(member.plan_id)
    assert plan is not None and plan.name == "hot" and plan.location_ids == {centro.id}
    assert plan.reply_for("mikrotik")  # VLAN attributes, pre-encoded
    client = view.clients.by_name("ap1")
    assert client is not None
    assert (client.vendor, client.location_id, client.coa) == ("mikrotik", centro.id, True)
    assert view.locations[centro.id].timezone == "Europe/Lisbon"
    plans.update("hot", PlanChanges(settings={"vlan": None}, name="hot desk"))
    asyncio.run(poll())
    renamed = view.plans.for_member(hot.id)
    assert renamed is not None and renamed.name == "hot desk"
    assert renamed.reply_for("mikrotik") == ()
