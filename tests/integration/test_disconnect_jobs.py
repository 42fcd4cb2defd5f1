"""Disconnect jobs on SQLite and the real PostgreSQL: written with their change, claimed once."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store import customers as customer_module
from radius_server.store import disconnects
from radius_server.store.csv_io import import_customers
from radius_server.store.customers import CustomerChanges, CustomerRepository
from radius_server.store.disconnects import (
    DisconnectQueue,
    DisconnectRequests,
    format_result,
    parse_result,
)
from radius_server.store.errors import InvalidValue, NotFound, PinTaken, SessionNotFound
from radius_server.store.models import AccountingSession, AuditEvent, Customer, DisconnectJob
from radius_server.store.sessions import SessionStore

ANA = "ana@example.com"
BO = "bo@example.com"


def jobs(sessions: sessionmaker[Session]) -> list[DisconnectJob]:
    with sessions() as session:
        return list(session.scalars(select(DisconnectJob).order_by(DisconnectJob.id)))


def open_session(
    sessions: sessionmaker[Session],
    email: str | None,
    key: str,
    *,
    stopped: bool = False,
    client: str = "ap1",
) -> int:
    """A sessions row as the accounting writer leaves it after a Start."""
    now = datetime.now(UTC)
    with sessions() as session:
        row = AccountingSession(
            unique_key=key.ljust(32, "0")[:32],
            client_name=client,
            nas_address="127.0.0.1",
            nas_ip_address="127.0.0.1",
            nas_identifier="lobby",
            acct_session_id=key.upper(),
            user_name=email or "someone",
            member_email=email,
            calling_station_id="aa-bb-cc-dd-ee-01",
            started_at=now,
            updated_at=now,
            stopped_at=now if stopped else None,
            session_time=0,
            input_octets=0,
            output_octets=0,
            input_packets=0,
            output_packets=0,
            changed_at=now,
        )
        session.add(row)
        session.commit()
        return row.id


@pytest.fixture
def repo(clean_sessions: sessionmaker[Session]) -> CustomerRepository:
    repo = CustomerRepository(clean_sessions, actor="tester")
    repo.add(ANA, "Ana", pin="11111")
    repo.add(BO, "Bo", pin="22222")
    return repo


def test_set_pin_queues_one_job_in_its_transaction(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    repo.set_pin(ANA, "33333")
    [job] = jobs(clean_sessions)
    assert (job.member_email, job.reason, job.requested_by) == (ANA, "pin_changed", "tester")
    assert job.session_id is None and job.claimed_by is None and job.done_at is None
    repo.set_pin(ANA, None)  # regenerate: a new PIN, a new job
    assert [j.reason for j in jobs(clean_sessions)] == ["pin_changed", "pin_changed"]


def test_no_job_when_the_pin_does_not_change_or_the_change_fails(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    repo.set_pin(ANA, "11111")  # the same PIN again
    with pytest.raises(PinTaken):
        repo.set_pin(ANA, "22222")  # Bo's
    assert jobs(clean_sessions) == []


def test_job_and_change_commit_together(
    repo: CustomerRepository,
    clean_sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure after the job was added (the audit row) writes neither the PIN nor the job."""

    def broken_audit(*_args: object, **_kw: object) -> None:
        raise RuntimeError("audit failed")

    monkeypatch.setattr(customer_module, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        repo.set_pin(ANA, "44444")
    with pytest.raises(RuntimeError):
        repo.update(ANA, CustomerChanges(active=False))
    with pytest.raises(RuntimeError):
        repo.remove(ANA)
    assert jobs(clean_sessions) == []
    current = repo.get(ANA)
    assert current.pin == "11111" and current.active


def test_update_queues_a_job_only_when_access_is_lost(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    repo.update(ANA, CustomerChanges(full_name="Ana B"))
    repo.update(ANA, CustomerChanges(valid_until=now + timedelta(days=3)))
    assert jobs(clean_sessions) == []
    repo.update(ANA, CustomerChanges(active=False))
    repo.update(ANA, CustomerChanges(active=False))  # already disabled: nothing changes
    repo.update(ANA, CustomerChanges(active=True))
    repo.update(ANA, CustomerChanges(wifi_access=False))
    repo.update(ANA, CustomerChanges(wifi_access=True))
    repo.update(
        ANA,
        CustomerChanges(valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)),
    )
    # Moved further into the past: it had ended already, nothing is lost now.
    repo.update(ANA, CustomerChanges(valid_until=now - timedelta(days=2)))
    assert [(j.member_email, j.reason) for j in jobs(clean_sessions)] == [
        (ANA, "disabled"),
        (ANA, "wifi_revoked"),
        (ANA, "validity_ended"),
    ]


def test_remove_queues_a_job(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    repo.remove(BO)
    assert [(j.member_email, j.reason) for j in jobs(clean_sessions)] == [(BO, "removed")]


def test_csv_import_queues_jobs_like_single_changes(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    text = "email,pin,active\nana@example.com,55555,yes\nbo@example.com,22222,no\n"
    report = import_customers(clean_sessions, io.StringIO(text), actor="importer")
    assert report.ok
    assert [(j.member_email, j.reason, j.requested_by) for j in jobs(clean_sessions)] == [
        (ANA, "pin_changed", "importer"),
        (BO, "disabled", "importer"),
    ]


def _queue_jobs(sessions: sessionmaker[Session], count: int) -> list[int]:
    with sessions() as session:
        made = [
            disconnects.enqueue(session, f"m{i}@example.com", "admin", "tester")
            for i in range(count)
        ]
        session.commit()
        return [job.id for job in made]


def test_claim_complete_and_lease(clean_sessions: sessionmaker[Session]) -> None:
    ids = _queue_jobs(clean_sessions, 3)
    now = time.time()
    one = DisconnectQueue(clean_sessions, "one", lease=60)
    two = DisconnectQueue(clean_sessions, "two", lease=60)
    assert one.has_work(now)
    claimed = one.claim(now, limit=2)
    assert [j.id for j in claimed] == ids[:2]
    assert all(j.claimed_by == "one" and j.claimed_at is not None for j in claimed)
    assert [j.id for j in two.claim(now + 1)] == ids[2:]
    assert not two.has_work(now + 2) and two.claim(now + 2) == []
    assert one.complete(ids[0], now + 3, format_result({"acked": 1}))
    assert not two.complete(ids[0], now + 4, "acked=0")  # done already: the first result stays
    # "one" died holding ids[1]: after the lease another instance takes it, not the done one.
    assert two.claim(now + 30) == []
    reclaimed = two.claim(now + 62)
    assert [(j.id, j.claimed_by) for j in reclaimed] == [(ids[1], "two"), (ids[2], "two")]
    done = DisconnectRequests(clean_sessions).get(ids[0])
    assert done.done and done.result == "acked=1 nak=0 timeout=0 unsupported=0 error=0"
    assert done.counts() == {"acked": 1, "nak": 0, "timeout": 0, "unsupported": 0, "error": 0}


def test_concurrent_claimers_never_share_a_job(clean_sessions: sessionmaker[Session]) -> None:
    """Four instances claiming at once, in small batches, until the queue is empty."""
    ids = _queue_jobs(clean_sessions, 60)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        queue = DisconnectQueue(clean_sessions, name)
        mine = taken.setdefault(name, [])
        try:
            barrier.wait()
            while True:
                batch = queue.claim(time.time(), limit=3)
                if not batch:
                    return
                mine.extend(j.id for j in batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"i{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    every = [job_id for batch in taken.values() for job_id in batch]
    assert sorted(every) == ids  # each job exactly once
    with clean_sessions() as session:
        owners = dict(session.execute(select(DisconnectJob.id, DisconnectJob.claimed_by)).all())
    assert all(owners[job_id] == name for name, got in taken.items() for job_id in got)


def test_validity_check_queues_once_per_end(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    queue = DisconnectQueue(clean_sessions, "one")
    with clean_sessions() as session:
        # Straight into the rows: an update through the repository queues its own job.
        for email in (ANA, BO):
            row = session.scalars(select(Customer).where(Customer.email == email)).one()
            row.valid_until = now - timedelta(minutes=5)
        session.commit()
    open_session(clean_sessions, ANA, "a1")
    open_session(clean_sessions, ANA, "a2")
    open_session(clean_sessions, BO, "b1", stopped=True)  # Bo is offline: nothing to end
    open_session(clean_sessions, "carl@example.com", "c1")  # no such member
    assert queue.enqueue_validity_ended(now.timestamp()) == [ANA]
    assert queue.enqueue_validity_ended(now.timestamp() + 60) == []
    [job] = jobs(clean_sessions)
    assert (job.member_email, job.reason, job.requested_by) == (ANA, "validity_ended", "system")
    # Extended, then over again: one more job.
    with clean_sessions() as session:
        row = session.scalars(select(Customer).where(Customer.email == ANA)).one()
        row.valid_until = now + timedelta(minutes=1)
        session.commit()
    assert queue.enqueue_validity_ended(now.timestamp() + 30) == []
    assert queue.enqueue_validity_ended(now.timestamp() + 120) == [ANA]
    assert len(jobs(clean_sessions)) == 2


def test_admin_requests(repo: CustomerRepository, clean_sessions: sessionmaker[Session]) -> None:
    requests = DisconnectRequests(clean_sessions, actor="cli:admin")
    with pytest.raises(NotFound, match="no open session of ana@example"):
        requests.request_member(ANA)
    with pytest.raises(SessionNotFound):
        requests.request_session(999)
    closed = open_session(clean_sessions, ANA, "a0", stopped=True)
    with pytest.raises(InvalidValue, match="is not open"):
        requests.request_session(closed)
    assert jobs(clean_sessions) == []
    online = open_session(clean_sessions, ANA, "a1")
    by_member = requests.request_member(ANA)
    by_session = requests.request_session(online)
    assert (by_member.reason, by_member.session_id, by_member.requested_by) == (
        "admin",
        None,
        "cli:admin",
    )
    assert (by_session.member_email, by_session.session_id) == (ANA, online)
    assert requests.pending() == 2
    with clean_sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "session.disconnect")
        ).all()
    assert len(actions) == 2
    # The job a runner would work: the session store finds what it names.
    assert [s.id for s in SessionStore(clean_sessions).open_sessions(ANA)] == [online]


def test_prune_keeps_unfinished_jobs(clean_sessions: sessionmaker[Session]) -> None:
    ids = _queue_jobs(clean_sessions, 3)
    queue = DisconnectQueue(clean_sessions, "one")
    now = time.time()
    queue.claim(now)
    queue.complete(ids[0], now - 3600, "acked=1")
    queue.complete(ids[1], now, "acked=1")
    assert queue.prune(now - 60) == 1
    with clean_sessions() as session:
        left = session.scalar(select(func.count(DisconnectJob.id)))
    assert left == 2


def test_result_lines() -> None:
    line = format_result({"acked": 2, "timeout": 1})
    assert line == "acked=2 nak=0 timeout=1 unsupported=0 error=0"
    assert parse_result(line)["acked"] == 2
    assert parse_result(None) == {} and parse_result("odd words=x") == {}


def test_validity_checks_at_once_queue_a_member_once(
    repo: CustomerRepository, clean_sessions: sessionmaker[Session]
) -> None:
    """Four instances checking at the same moment: one job, not four."""
    now = datetime.now(UTC)
    with clean_sessions() as session:
        row = session.scalars(select(Customer).where(Customer.email == ANA)).one()
        row.valid_until = now - timedelta(minutes=5)
        session.commit()
    open_session(clean_sessions, ANA, "a1")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def check(name: str) -> None:
        try:
            barrier.wait()
            DisconnectQueue(clean_sessions, name).enqueue_validity_ended(now.timestamp())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=check, args=(f"i{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [(j.member_email, j.reason) for j in jobs(clean_sessions)] == [(ANA, "validity_ended")]


def test_jobs_of_members_not_online_are_settled_in_bulk(
    clean_sessions: sessionmaker[Session],
) -> None:
    """A CSV import of new PINs queues a job per member; the offline ones end in one statement."""
    ids = _queue_jobs(clean_sessions, 5)
    open_session(clean_sessions, "m1@example.com", "k1")
    open_session(clean_sessions, "m3@example.com", "k3", stopped=True)
    with clean_sessions() as session:
        one_session = disconnects.enqueue(
            session, "m4@example.com", "admin", "tester", session_id=42
        )
        session.commit()
    now = time.time()
    queue = DisconnectQueue(clean_sessions, "one", lease=60)
    settled = queue.settle_idle(now)
    assert [j.id for j in settled] == [ids[0], ids[2], ids[3], ids[4]]
    assert all(j.done and j.claimed_by == "one" for j in settled)
    assert all(j.counts()["acked"] == 0 for j in settled)
    assert DisconnectQueue(clean_sessions, "two").settle_idle(now) == []
    # The online member's job and the one-session job go the long way.
    assert [j.id for j in queue.claim(now)] == [ids[1], one_session.id]
