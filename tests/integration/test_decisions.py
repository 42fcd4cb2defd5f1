"""Recent decisions end to end: the table, the real server writing it, an outage, the API.

SQLite and PostgreSQL. The server tests run ``radius-server serve`` and Debian's
``radclient`` (freeradius-utils; under CI=true a missing one fails); the outage runs
on a private PostgreSQL cluster (tests/integration/pg_cluster.py) that is stopped and
started under the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from radius_server.admin import Admin
from radius_server.admin.customers import NewCustomer
from radius_server.config import Settings
from radius_server.rules.decision_log import DecisionRow
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.store.decisions import DecisionRecord, DecisionStore
from radius_server.store.models import AccountingSession, Customer
from radius_server.web.app import create_app
from tests.conftest import Cli
from tests.integration.pg_cluster import PgCluster, pg_cluster_fixture  # noqa: F401
from tests.integration.radclient_auth import radclient_auth
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.test_plan_store import seed_default_plan
from tests.integration.udp_client import SECRET, prepare_site

EMAIL = "ana@example.com"
NOW = 1_900_000_000.0


def _admin(sessions: sessionmaker[Session], tmp_path: Path) -> Admin:
    return Admin(Settings(data_dir=str(tmp_path)), sessions, "test")


def _members(admin: Admin, *emails: str) -> list[int]:
    return [admin.customers.add(NewCustomer(email)).record.id for email in emails]


def _row(
    at: float, user: str, customer: int | None, outcome: str = "accept", **kw: str
) -> DecisionRow:
    return DecisionRow(
        at=at,
        user_name=user,
        customer_id=customer,
        client_name=kw.get("client", "lobby"),
        calling_station=kw.get("station"),
        method=kw.get("method", "pap"),
        outcome=outcome,
        reason=kw.get("reason", "ok" if outcome == "accept" else "wrong_pin"),
        plan=kw.get("plan"),
    )


def _last_sign_in(sessions: sessionmaker[Session], customer_id: int) -> datetime | None:
    with sessions() as session:
        value = session.scalar(select(Customer.last_sign_in_at).where(Customer.id == customer_id))
    return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)


# -- the store -----------------------------------------------------------------------


def test_decisions_are_written_read_newest_first_filtered_and_paged(
    clean_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed_default_plan(clean_sessions)
    ana, bob = _members(_admin(clean_sessions, tmp_path), EMAIL, "bob@example.com")
    store = DecisionStore(clean_sessions)
    later = store.write(
        [
            _row(NOW, EMAIL, ana, station="aa:bb:cc:dd:ee:ff", plan="desk"),
            _row(NOW + 1, EMAIL, ana, "reject", client="annex"),
            _row(NOW + 2, "stranger@example.com", None, "reject", reason="unknown_user"),
            _row(NOW + 3, "bob@example.com", bob, "reject", reason="inactive"),
        ],
        "host:1",
        {ana: NOW},
    )
    assert later == {}
    everything = store.recent(limit=10)
    assert [d.reason for d in everything] == ["inactive", "unknown_user", "wrong_pin", "ok"]
    first = everything[-1]
    assert (first.user, first.customer_id, first.client, first.calling_station) == (
        EMAIL,
        ana,
        "lobby",
        "aa:bb:cc:dd:ee:ff",
    )
    assert (first.method, first.plan, first.instance) == ("pap", "desk", "host:1")
    assert first.at == datetime.fromtimestamp(NOW, UTC)
    assert [d.reason for d in store.recent(user=EMAIL)] == ["wrong_pin", "ok"]
    assert [d.user for d in store.recent(client="annex")] == [EMAIL]
    assert [d.reason for d in store.recent(outcome="accept")] == ["ok"]
    page = store.recent(limit=2, before_id=everything[1].id)
    assert [d.reason for d in page] == ["wrong_pin", "ok"]
    assert _last_sign_in(clean_sessions, ana) == datetime.fromtimestamp(NOW, UTC)
    assert _last_sign_in(clean_sessions, bob) is None


def test_last_sign_in_only_moves_forward(
    clean_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed_default_plan(clean_sessions)
    (ana,) = _members(_admin(clean_sessions, tmp_path), EMAIL)
    store = DecisionStore(clean_sessions)
    store.write([], "host:1", {ana: NOW + 10})
    store.write([], "host:2", {ana: NOW})  # another instance's older batch, late
    assert _last_sign_in(clean_sessions, ana) == datetime.fromtimestamp(NOW + 10, UTC)
    # A member removed meanwhile is simply not there: nothing to carry over.
    assert store.write([], "host:1", {ana + 1000: NOW}) == {}


def test_decisions_past_the_retention_are_pruned_in_chunks(
    clean_sessions: sessionmaker[Session],
) -> None:
    store = DecisionStore(clean_sessions)
    old = [_row(NOW - 40 * 86400 + n, "old@example.com", None) for n in range(5)]
    store.write([*old, _row(NOW - 86400, "new@example.com", None)], "host:1", {})
    assert store.prune(NOW, 30 * 86400.0, limit=3) == 3
    assert store.prune(NOW, 30 * 86400.0, limit=3) == 2
    assert store.prune(NOW, 30 * 86400.0, limit=3) == 0
    assert [d.user for d in store.recent()] == ["new@example.com"]


def test_a_page_of_members_gets_last_sign_in_and_devices_online_in_one_query(
    clean_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed_default_plan(clean_sessions)
    admin = _admin(clean_sessions, tmp_path)
    ana, bob, cy = _members(admin, EMAIL, "bob@example.com", "cy@example.com")
    DecisionStore(clean_sessions).write([], "host:1", {ana: NOW})
    when = datetime.fromtimestamp(NOW, UTC)

    def session_row(key: str, email: str, station: str | None, stopped: bool) -> AccountingSession:
        return AccountingSession(
            unique_key=key,
            client_name="lobby",
            nas_address="192.0.2.1",
            acct_session_id=key,
            user_name=email,
            member_email=email,
            calling_station_id=station,
            started_at=when,
            updated_at=when,
            stopped_at=when if stopped else None,
            changed_at=when,
        )

    with clean_sessions() as session:
        session.add_all(
            [
                session_row("k1", EMAIL, "aa:aa:aa:aa:aa:01", False),
                session_row("k2", EMAIL, "aa:aa:aa:aa:aa:01", False),  # same device, 2 NAS
                session_row("k3", EMAIL, "aa:aa:aa:aa:aa:02", False),
                session_row("k4", EMAIL, None, False),  # no station: counts alone
                session_row("k5", EMAIL, "aa:aa:aa:aa:aa:03", True),  # closed
                session_row("k6", "bob@example.com", None, True),
            ]
        )
        session.commit()
    activity = admin.decisions.activity([ana, bob, cy, 999_999])
    assert sorted(activity) == [ana, bob, cy]
    assert (activity[ana].last_sign_in_at, activity[ana].online_devices) == (when, 3)
    assert (activity[bob].last_sign_in_at, activity[bob].online_devices) == (None, 0)


def test_admin_recent_checks_its_inputs_and_pages(
    clean_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    admin = _admin(clean_sessions, tmp_path)
    DecisionStore(clean_sessions).write(
        [_row(NOW + n, "ana@example.com", None) for n in range(3)], "host:1", {}
    )
    first = admin.decisions.recent(user=" ANA@Example.com ", limit=2)
    assert len(first.decisions) == 2 and first.next_before == first.decisions[-1].id
    rest = admin.decisions.recent(user=EMAIL, limit=2, before_id=first.next_before)
    assert len(rest.decisions) == 1 and rest.next_before is None
    for bad in ({"limit": 0}, {"outcome": "drop"}, {"before_id": 0}):
        with pytest.raises(ValueError, match=r"limit|outcome|before_id"):
            admin.decisions.recent(**bad)  # type: ignore[arg-type]


def test_a_member_locked_by_an_admin_is_skipped_without_waiting_then_carried(
    pg_url: str, tmp_path: Path
) -> None:
    """PostgreSQL: SKIP LOCKED. A batch never waits on (nor deadlocks with) an admin's
    transaction holding a member's row; that sign-in comes back to be applied later."""
    engine = database.make_engine(pg_url)
    try:
        database.upgrade(engine)
        sessions = database.make_session_factory(engine)
        seed_default_plan(sessions)
        ana, bob = _members(_admin(sessions, tmp_path), EMAIL, "bob@example.com")
        store = DecisionStore(sessions)
        with engine.connect() as holder:
            holder.execute(text("SELECT id FROM customers WHERE id = :id FOR UPDATE"), {"id": ana})
            started = time.monotonic()
            later = store.write([_row(NOW, EMAIL, ana)], "host:1", {ana: NOW, bob: NOW})
            assert time.monotonic() - started < 2.0  # no lock wait
            holder.rollback()
        assert later == {ana: NOW}
        assert _last_sign_in(sessions, bob) == datetime.fromtimestamp(NOW, UTC)
        assert store.write([], "host:1", later) == {}
        assert _last_sign_in(sessions, ana) == datetime.fromtimestamp(NOW, UTC)
    finally:
        engine.dispose()


def test_a_sign_in_already_written_is_not_carried_whatever_the_rounding(
    clean_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A sign-in written once is done: writing it again moves nothing and leaves nothing
    for later. 1900000289.7816145 is a time PostgreSQL's to_timestamp() rounds to .781614
    and Python's datetime to .781615; compared in Python it came back "locked" at every
    batch for good (the writer re-sent it, and read it back, twice per interval)."""
    seed_default_plan(clean_sessions)
    ana = _members(_admin(clean_sessions, tmp_path), EMAIL)[0]
    store = DecisionStore(clean_sessions)
    at = 1900000289.7816145
    assert store.write([_row(at, EMAIL, ana)], "host:1", {ana: at}) == {}
    assert store.write([_row(at, EMAIL, ana)], "host:1", {ana: at}) == {}
    assert store.write([], "host:1", {ana: at - 1.0}) == {}


# -- the real server -----------------------------------------------------------------


def _wait_for_rows(url: str, count: int, timeout: float = 5.0) -> list[DecisionRecord]:
    engine = database.make_engine(url)
    try:
        store = DecisionStore(database.make_session_factory(engine))
        deadline = time.monotonic() + timeout
        while True:
            found = store.recent(limit=100)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
    finally:
        engine.dispose()


def _sign_in(server: ServerProcess, email: str, pin: str, station: str) -> str:
    """One PAP Access-Request from radclient; the reply's name ('' when none came)."""
    done = radclient_auth(
        server.auth_port,
        SECRET,
        f'User-Name = "{email}", User-Password = "{pin}", Calling-Station-Id = "{station}"',
    )
    out = done.stdout + done.stderr
    for name in ("Access-Accept", "Access-Reject"):
        if f"Received {name}" in out:
            return name
    return ""


def _other_pin(pin: str) -> str:
    return f"{(int(pin) + 1) % 100000:05d}"


def test_the_server_records_accept_wrong_pin_and_unknown_user(db_url: str, tmp_path: Path) -> None:
    pin = prepare_site(Cli(db_url, tmp_path))
    with running_server(db_url, tmp_path / "data") as server:
        assert _sign_in(server, EMAIL, pin, "AA-BB-CC-DD-EE-01") == "Access-Accept"
        assert _sign_in(server, "ANA@example.com", _other_pin(pin), "AA-BB-CC-DD-EE-02") == (
            "Access-Reject"
        )
        assert _sign_in(server, "Nobody@Example.com", pin, "AA-BB-CC-DD-EE-03") == "Access-Reject"
        found = _wait_for_rows(db_url, 3)
    assert [(d.user, d.outcome, d.reason, d.client, d.method) for d in found] == [
        ("nobody@example.com", "reject", "unknown_user", "loopback", "pap"),
        (EMAIL, "reject", "wrong_pin", "loopback", "pap"),
        (EMAIL, "accept", "ok", "loopback", "pap"),
    ]
    assert found[0].customer_id is None and found[2].customer_id is not None
    assert found[2].calling_station == "AA-BB-CC-DD-EE-01" and found[2].plan == "default"
    assert all(d.instance.endswith(tuple("0123456789")) for d in found)
    with running_server(db_url, tmp_path / "data2", RADIUS_DECISION_LOG_ENABLED="false") as off:
        assert _sign_in(off, EMAIL, pin, "AA-BB-CC-DD-EE-04") == "Access-Accept"
        time.sleep(1.5)  # two write intervals: nothing may come
    assert len(_wait_for_rows(db_url, 4, timeout=0)) == 3
    engine = database.make_engine(db_url)
    try:
        sessions = database.make_session_factory(engine)
        assert found[2].customer_id is not None
        assert _last_sign_in(sessions, found[2].customer_id) == found[2].at
    finally:
        engine.dispose()


def test_two_servers_and_two_workers_share_one_table(pg_url: str, tmp_path: Path) -> None:
    """Several processes on one PostgreSQL: each records its own, rows name the instance,
    and the member's last sign-in is the latest of them."""
    pin = prepare_site(Cli(pg_url, tmp_path))
    env = {"RADIUS_DEVICE_LIMIT": "0"}
    with (
        running_server(pg_url, tmp_path / "one", "--workers", "2", **env) as one,
        running_server(pg_url, tmp_path / "two", **env) as two,
    ):
        one.wait_for_all("server_started", 2)
        for n in range(4):
            assert _sign_in(one, EMAIL, pin, f"AA-BB-CC-DD-EE-1{n}") == "Access-Accept"
        assert _sign_in(two, EMAIL, pin, "AA-BB-CC-DD-EE-20") == "Access-Accept"
        found = _wait_for_rows(pg_url, 5)
    assert sorted(d.calling_station or "" for d in found) == [
        *(f"AA-BB-CC-DD-EE-1{n}" for n in range(4)),
        "AA-BB-CC-DD-EE-20",
    ]
    two_rows = [d for d in found if d.calling_station == "AA-BB-CC-DD-EE-20"]
    assert len({d.instance for d in found}) >= 2
    assert two_rows[0].instance not in {d.instance for d in found if d not in two_rows}
    engine = database.make_engine(pg_url)
    try:
        member = found[0].customer_id
        assert member is not None
        latest = max(d.at for d in found)
        assert _last_sign_in(database.make_session_factory(engine), member) == latest
    finally:
        engine.dispose()


def test_while_the_database_is_down_the_server_answers_and_counts_drops(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = pg_cluster.url
    pin = prepare_site(Cli(url, tmp_path))
    env = {
        "RADIUS_DECISION_QUEUE_MAX": "3",
        "RADIUS_DATABASE_TIMEOUT": "2",
        "RADIUS_DEVICE_LIMIT": "0",  # six stations sign in
    }
    with running_server(url, tmp_path / "data", **env) as server:
        assert _sign_in(server, EMAIL, pin, "AA-BB-CC-DD-EE-00") == "Access-Accept"
        assert len(_wait_for_rows(url, 1)) == 1
        pg_cluster.stop()
        for n in range(1, 6):
            assert _sign_in(server, EMAIL, pin, f"AA-BB-CC-DD-EE-0{n}") == "Access-Accept"
        server.wait_for("decision_log_failed", timeout=10)
        pg_cluster.start()
        recovered = server.wait_for("decision_log_recovered", timeout=20)
        assert recovered["dropped"] == 2
        found = _wait_for_rows(url, 4)
        assert len(server.find("decision_log_failed", timeout=0)) == 1
    # The first, then the newest three of the five sent during the outage.
    assert [d.calling_station for d in found] == [
        "AA-BB-CC-DD-EE-05",
        "AA-BB-CC-DD-EE-04",
        "AA-BB-CC-DD-EE-03",
        "AA-BB-CC-DD-EE-00",
    ]


# -- the API -------------------------------------------------------------------------


@pytest.fixture
def api(clean_db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str, DecisionStore]]:
    settings = Settings(database_url=clean_db_url, data_dir=str(tmp_path))
    engine = database.make_engine(clean_db_url)
    try:
        sessions = database.make_session_factory(engine)
        _, token = Admin(settings, sessions, "test").tokens.create("desk", Role.READONLY)
        with TestClient(create_app(settings, engine)) as client:
            yield client, token, DecisionStore(sessions)
    finally:
        engine.dispose()


def test_the_api_lists_decisions_filtered_with_a_cursor(
    api: tuple[TestClient, str, DecisionStore],
) -> None:
    client, token, store = api
    store.write(
        [_row(NOW + n, EMAIL, None, "reject" if n % 2 else "accept") for n in range(5)]
        + [_row(NOW + 9, "bob@example.com", None, client="annex")],
        "host:1",
        {},
    )
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/decisions").status_code == 401
    first = client.get("/api/v1/decisions", params={"user": EMAIL, "limit": 2}, headers=auth)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [datetime.fromisoformat(d["at"].replace("Z", "+00:00")) for d in body["items"]] == [
        datetime.fromtimestamp(NOW + n, UTC) for n in (4, 3)
    ]
    seen = [d["id"] for d in body["items"]]
    cursor = body["next_cursor"]
    while cursor:
        page = client.get(
            "/api/v1/decisions", params={"user": EMAIL, "limit": 2, "cursor": cursor}, headers=auth
        ).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    rejects = client.get("/api/v1/decisions", params={"outcome": "reject"}, headers=auth).json()
    assert {d["outcome"] for d in rejects["items"]} == {"reject"} and len(rejects["items"]) == 2
    annex = client.get("/api/v1/decisions", params={"client": "annex"}, headers=auth).json()
    assert [d["user"] for d in annex["items"]] == ["bob@example.com"]
    item = annex["items"][0]
    assert set(item) == {
        "id",
        "at",
        "user",
        "customer_id",
        "client",
        "calling_station",
        "method",
        "outcome",
        "reason",
        "plan",
        "instance",
    }
    for params in ({"cursor": "!!"}, {"cursor": "YWJj"}, {"outcome": "drop"}, {"limit": 0}):
        bad = client.get("/api/v1/decisions", params=params, headers=auth)
        assert bad.status_code == 422, params
        assert bad.headers["content-type"].startswith("application/problem+json")
