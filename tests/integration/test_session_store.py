"""SessionStore on SQLite and the real PostgreSQL: accounting records merged into sessions."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.accounting import (
    AccountingRecord,
    StatusType,
    merge,
    unique_session_key,
)
from radius_server.store import database
from radius_server.store.errors import InvalidValue, NotFound, SessionNotFound, StoreError
from radius_server.store.models import AccountingSession
from radius_server.store.records import SessionRecord
from radius_server.store.sessions import SessionStore

T0 = 1_800_000_000.0
GIGA = 1 << 32


def rec(
    status: StatusType,
    session_id: str = "S1",
    at: float = T0,
    *,
    client: str = "ap1",
    nas_ip: str | None = "192.0.2.1",
    nas_identifier: str | None = None,
    nas_port: int | None = 7,
    station: str | None = "aa:bb:cc:dd:ee:01",
    **values: object,
) -> AccountingRecord:
    """A record as record_from_request would make it, at our clock ``at``."""
    per_session = status.per_session
    fields: dict[str, object] = {
        "status": status,
        "unique_key": (
            unique_session_key(client, nas_ip, nas_identifier, nas_port, session_id)
            if per_session
            else ""
        ),
        "client_name": client,
        "nas_address": nas_ip or "192.0.2.1",
        "acct_session_id": session_id if per_session else "",
        "user_name": "ada@example.org",
        "event_time": at,
        "received_at": at,
        "nas_ip_address": nas_ip,
        "nas_identifier": nas_identifier,
        "nas_port": nas_port if per_session else None,
        "calling_station_id": station if per_session else None,
    }
    fields.update(values)
    return AccountingRecord(**fields)  # type: ignore[arg-type]


def start(session_id: str = "S1", at: float = T0, **kw: object) -> AccountingRecord:
    return rec(StatusType.START, session_id, at, **kw)


def interim(session_id: str = "S1", at: float = T0 + 600, **kw: object) -> AccountingRecord:
    return rec(StatusType.INTERIM_UPDATE, session_id, at, **kw)


def stop(session_id: str = "S1", at: float = T0 + 900, **kw: object) -> AccountingRecord:
    return rec(StatusType.STOP, session_id, at, **kw)


def when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def store(clean_sessions: sessionmaker[Session]) -> SessionStore:
    """A SessionStore on an emptied, migrated database (both back ends)."""
    return SessionStore(clean_sessions)


def all_sessions(store: SessionStore) -> list[SessionRecord]:
    return sorted(store.find(limit=100000), key=lambda r: r.id)


def only(store: SessionStore) -> SessionRecord:
    rows = all_sessions(store)
    assert len(rows) == 1, rows
    return rows[0]


def counters(row: SessionRecord) -> tuple[int, int, int, int, int]:
    return (
        row.session_time,
        row.input_octets,
        row.output_octets,
        row.input_packets,
        row.output_packets,
    )


def test_start_interim_stop(store: SessionStore) -> None:
    store.write([start(framed_ip_address=None)], now=T0)
    row = only(store)
    assert row.online and row.started_at == when(T0) and row.updated_at == when(T0)
    assert row.user_name == "ada@example.org" and row.nas_port == 7
    assert row.calling_station_id == "aa:bb:cc:dd:ee:01" and row.changed_at == when(T0)
    store.write(
        [
            interim(
                session_time=600,
                input_octets=1000,
                output_octets=2000,
                input_packets=10,
                output_packets=20,
                framed_ip_address="10.0.0.9",
            )
        ],
        now=T0 + 601,
    )
    row = only(store)
    assert counters(row) == (600, 1000, 2000, 10, 20)
    assert row.online and row.framed_ip_address == "10.0.0.9"
    assert row.updated_at == when(T0 + 600) and row.changed_at == when(T0 + 601)
    result = store.write(
        [
            stop(
                session_time=900,
                input_octets=1500,
                output_octets=2500,
                terminate_cause="User-Request",
            )
        ],
        now=T0 + 901,
    )
    assert result.records == 1 and result.sessions_closed == 0 and result.sessions_changed == 1
    row = only(store)
    assert not row.online
    assert row.stopped_at == when(T0 + 900) and row.close_reason == "stop"
    assert row.terminate_cause == "User-Request"
    assert counters(row) == (900, 1500, 2500, 10, 20)
    assert row.started_at == when(T0) and row.framed_ip_address == "10.0.0.9"
    assert store.get(row.id) == row


def batch() -> list[AccountingRecord]:
    return [
        start("A"),
        start("B", station="aa:bb:cc:dd:ee:02"),
        interim("A", session_time=600, input_octets=5 * GIGA + 7, output_octets=3),
        interim("B", station="aa:bb:cc:dd:ee:02", session_time=600, input_octets=9),
        stop(
            "A",
            session_time=900,
            input_octets=6 * GIGA,
            output_octets=4,
            terminate_cause="Idle-Timeout",
        ),
    ]


def test_retransmitted_and_replayed_batches_change_nothing(store: SessionStore) -> None:
    first = store.write(batch(), now=T0 + 1000)
    assert first.records == 2 and first.sessions_changed == 2
    before = all_sessions(store)
    again = store.write(batch(), now=T0 + 2000)
    assert again.sessions_changed == 0 and again.sessions_closed == 0
    assert all_sessions(store) == before  # changed_at too: nothing changed
    # Retransmissions inside one batch, and a replay one record at a time.
    store.write(batch() + batch(), now=T0 + 3000)
    for record in batch():
        store.write([record], now=T0 + 4000)
    assert all_sessions(store) == before
    a = next(r for r in before if r.acct_session_id == "A")
    assert a.input_octets == 6 * GIGA and a.output_octets == 4 and a.session_time == 900
    assert a.close_reason == "stop" and a.terminate_cause == "Idle-Timeout"


def test_one_by_one_equals_merged(
    clean_sessions: sessionmaker[Session], store: SessionStore
) -> None:
    for record in batch():
        store.write([record], now=T0 + 1000)
    one_by_one = all_sessions(store)
    with clean_sessions() as session:
        session.query(AccountingSession).delete()
        session.commit()
    store.write(batch(), now=T0 + 1000)
    merged = all_sessions(store)

    def strip(rows: list[SessionRecord]) -> list[SessionRecord]:
        return sorted((replace(r, id=0) for r in rows), key=lambda r: r.unique_key)

    assert strip(one_by_one) == strip(merged)


def test_stop_before_start_and_interim_after_stop(store: SessionStore) -> None:
    store.write(
        [stop(session_time=900, input_octets=50, terminate_cause="Lost-Carrier")], now=T0 + 901
    )
    row = only(store)
    assert not row.online and row.close_reason == "stop"
    # started_at from the Stop: its event time minus Acct-Session-Time.
    assert row.started_at == when(T0) and row.stopped_at == when(T0 + 900)
    store.write([start(at=T0 + 1)], now=T0 + 902)  # the Start, late (its time is ours)
    store.write([interim(session_time=600, input_octets=40)], now=T0 + 903)
    row = only(store)
    assert not row.online and row.stopped_at == when(T0 + 900)
    assert row.input_octets == 50 and row.session_time == 900
    assert row.started_at == when(T0) and row.updated_at == when(T0 + 900)
    # A second, different Stop does not move the first.
    store.write([stop(at=T0 + 950, session_time=950, terminate_cause="User-Request")], now=T0 + 951)
    row = only(store)
    assert row.stopped_at == when(T0 + 900) and row.terminate_cause == "Lost-Carrier"
    assert row.session_time == 950


def test_gigawords_are_kept_whole(store: SessionStore) -> None:
    big = 7 * GIGA + 123
    store.write([interim(input_octets=big, output_octets=big + 1)], now=T0)
    store.write([interim(at=T0 + 10, input_octets=GIGA - 1)], now=T0 + 10)  # a wrapped counter
    row = only(store)
    assert row.input_octets == big and row.output_octets == big + 1


def test_member_identity_first_known_then_member_preferred(store: SessionStore) -> None:
    store.write([start(user_name="anonymous", class_hex=None)], now=T0)
    assert only(store).member_email is None and only(store).user_name == "anonymous"
    store.write(
        [
            interim(
                user_name="ada@example.org",
                member_email="ada@example.org",
                customer_id=4,
                class_hex="72733a",
            )
        ],
        now=T0 + 600,
    )
    row = only(store)
    assert (row.member_email, row.customer_id, row.class_hex, row.user_name) == (
        "ada@example.org",
        4,
        "72733a",
        "ada@example.org",
    )
    store.write(
        [interim(at=T0 + 700, user_name="bob", member_email="bob@example.org", customer_id=5)],
        now=T0 + 700,
    )
    row = only(store)
    assert (row.member_email, row.customer_id, row.user_name) == (
        "ada@example.org",
        4,
        "ada@example.org",
    )


def test_accounting_on_closes_only_that_nas_older_sessions(store: SessionStore) -> None:
    store.write(
        [
            start("A", at=T0),
            start("B", at=T0, station="aa:bb:cc:dd:ee:02"),
            start("C", at=T0, client="ap2", nas_ip="192.0.2.2"),
            start(
                "D", at=T0, nas_ip="192.0.2.9", station="aa:bb:cc:dd:ee:04"
            ),  # same client, another NAS-IP
            stop("E", at=T0 + 5, station="aa:bb:cc:dd:ee:05"),
        ],
        now=T0,
    )
    result = store.write(
        [
            interim("B", at=T0 + 20, station="aa:bb:cc:dd:ee:02"),  # heard after the On
            rec(StatusType.ACCOUNTING_ON, at=T0 + 10),
            start("F", at=T0 + 11, station="aa:bb:cc:dd:ee:06"),  # after the On: stays open
        ],
        now=T0 + 30,
    )
    assert result.sessions_closed == 1 and result.records == 3
    by_id = {r.acct_session_id: r for r in all_sessions(store)}
    assert by_id["A"].close_reason == "nas-restart" and by_id["A"].stopped_at == when(T0 + 10)
    assert by_id["A"].changed_at == when(T0 + 30)
    assert by_id["B"].online and by_id["C"].online and by_id["D"].online and by_id["F"].online
    assert by_id["E"].close_reason == "stop" and by_id["E"].stopped_at == when(T0 + 5)
    # The On/Off is applied in order: an interim of A after it does not reopen A.
    off = rec(StatusType.ACCOUNTING_OFF, at=T0 + 50, nas_ip=None)
    store.write([interim("A", at=T0 + 40), off], now=T0 + 50)
    by_id = {r.acct_session_id: r for r in all_sessions(store)}
    assert by_id["A"].close_reason == "nas-restart" and by_id["A"].stopped_at == when(T0 + 10)
    assert by_id["B"].close_reason == "nas-restart" and by_id["B"].stopped_at == when(T0 + 50)
    assert by_id["D"].close_reason == "nas-restart"  # no NAS-IP in the Off: the whole client
    assert by_id["C"].online


def test_accounting_on_with_nas_identifier(store: SessionStore) -> None:
    store.write(
        [
            start("A", nas_ip=None, nas_identifier="hall"),
            start("B", nas_ip=None, nas_identifier="roof", station="aa:bb:cc:dd:ee:02"),
        ],
        now=T0,
    )
    on = rec(StatusType.ACCOUNTING_ON, at=T0 + 10, nas_ip=None, nas_identifier="hall")
    assert store.write([on], now=T0 + 10).sessions_closed == 1
    by_id = {r.acct_session_id: r for r in all_sessions(store)}
    assert not by_id["A"].online and by_id["B"].online


def test_new_start_on_same_station_replaces_the_old(store: SessionStore) -> None:
    store.write([start("A", at=T0), start("X", at=T0, client="ap2", nas_ip="192.0.2.2")], now=T0)
    result = store.write([start("B", at=T0 + 100)], now=T0 + 100)
    assert result.sessions_closed == 1
    by_id = {r.acct_session_id: r for r in all_sessions(store)}
    assert by_id["A"].close_reason == "replaced" and by_id["A"].stopped_at == when(T0 + 100)
    assert by_id["B"].online
    assert by_id["X"].online  # same station, another NAS
    # A Start older than the other session's last news does not close it.
    store.write([interim("B", at=T0 + 700)], now=T0 + 700)
    assert store.write([start("C", at=T0 + 650)], now=T0 + 701).sessions_closed == 0
    # Two Starts of one station in one batch: the later one wins.
    result = store.write([start("D", at=T0 + 900), start("E", at=T0 + 901)], now=T0 + 902)
    by_id = {r.acct_session_id: r for r in all_sessions(store)}
    assert by_id["E"].online and not by_id["D"].online and not by_id["B"].online
    assert not by_id["C"].online
    assert result.sessions_closed == 3  # B, C and D
    # Replaying the Start changes nothing.
    again = store.write([start("D", at=T0 + 900), start("E", at=T0 + 901)], now=T0 + 903)
    assert again.sessions_closed == 0 and again.sessions_changed == 0


def test_stop_after_our_close_records_the_real_end(store: SessionStore) -> None:
    store.write([start("A", at=T0)], now=T0)
    assert [r.acct_session_id for r in store.close_stale(now=T0 + 2000, silent_for=1000)] == ["A"]
    row = only(store)
    assert row.close_reason == "stale" and row.stopped_at == when(T0)
    store.write([stop("A", at=T0 + 1500, terminate_cause="Lost-Carrier")], now=T0 + 2100)
    row = only(store)
    assert row.close_reason == "stop" and row.stopped_at == when(T0 + 1500)


def test_close_stale(store: SessionStore) -> None:
    store.write(
        [
            start("A", at=T0),
            start("B", at=T0, station="aa:bb:cc:dd:ee:02"),
            interim("B", at=T0 + 900, station="aa:bb:cc:dd:ee:02"),
            stop("C", at=T0 + 5, station="aa:bb:cc:dd:ee:03"),
        ],
        now=T0 + 900,
    )
    closed = store.close_stale(now=T0 + 1000, silent_for=720)
    assert [r.acct_session_id for r in closed] == ["A"]
    assert closed[0].close_reason == "stale" and closed[0].changed_at == when(T0 + 1000)
    assert store.close_stale(now=T0 + 1000, silent_for=720) == []
    assert [r.acct_session_id for r in store.find(online=True)] == ["B"]


def test_close_one(store: SessionStore) -> None:
    store.write([start("A")], now=T0)
    row = only(store)
    assert store.close(row.id, now=T0 + 5, reason="disconnect") is True
    assert store.close(row.id, now=T0 + 6, reason="disconnect") is False
    assert store.close(999, now=T0 + 6, reason="disconnect") is False
    closed = store.get(row.id)
    assert closed.close_reason == "disconnect" and closed.stopped_at == when(T0 + 5)
    with pytest.raises(InvalidValue):
        store.close(row.id, now=T0, reason="stop")


def test_prune(store: SessionStore) -> None:
    day = 86400.0
    store.write(
        [
            stop("old", at=T0, station="aa:bb:cc:dd:ee:0a"),
            stop("recent", at=T0 + 50 * day, station="aa:bb:cc:dd:ee:0b"),
            start("open", at=T0, station="aa:bb:cc:dd:ee:0c"),
        ],
        now=T0 + 50 * day,
    )
    assert store.prune(now=T0 + 91 * day, retention_seconds=90 * day) == 1
    assert sorted(r.acct_session_id for r in all_sessions(store)) == ["open", "recent"]
    assert store.prune(now=T0 + 91 * day, retention_seconds=90 * day) == 0


def test_find_filters_and_get(store: SessionStore) -> None:
    store.write(
        [
            start("A", at=T0, member_email="ada@example.org", customer_id=1),
            start("B", at=T0 + 1, client="ap2", nas_ip="192.0.2.2", member_email="ada@example.org"),
            start("C", at=T0 + 2, station="aa:bb:cc:dd:ee:03", member_email="bob@example.org"),
            stop("D", at=T0 + 3, station="aa:bb:cc:dd:ee:04", member_email="ada@example.org"),
        ],
        now=T0 + 10,
    )
    names = lambda rows: [r.acct_session_id for r in rows]  # noqa: E731
    assert names(store.find()) == ["D", "C", "B", "A"]  # newest first
    assert names(store.find(limit=2)) == ["D", "C"]
    assert names(store.find(online=True)) == ["C", "B", "A"]
    assert names(store.find(member_email="ada@example.org")) == ["D", "B", "A"]
    assert names(store.find(online=True, member_email="ada@example.org", client_name="ap1")) == [
        "A"
    ]
    assert names(store.find(client_name="nobody")) == []
    assert names(store.open_sessions("ada@example.org")) == ["A", "B"]
    assert store.open_sessions("nobody@example.org") == []
    row = store.find(limit=1)[0]
    assert store.get(row.id) == row
    with pytest.raises(SessionNotFound) as info:
        store.get(12345)
    assert isinstance(info.value, NotFound) and isinstance(info.value, StoreError)
    assert str(info.value) == "no session with id 12345"


def test_changed_since(store: SessionStore) -> None:
    store.write([start("A", at=T0)], now=T0)
    store.write([start("B", at=T0 + 10, station="aa:bb:cc:dd:ee:02")], now=T0 + 10)
    store.write([interim("A", at=T0 + 20)], now=T0 + 20)
    store.write([interim("A", at=T0 + 20)], now=T0 + 30)  # a replay: no change
    assert [r.acct_session_id for r in store.changed_since(when(T0))] == ["B", "A"]
    assert [r.acct_session_id for r in store.changed_since(when(T0 + 11))] == ["A"]
    assert store.changed_since(when(T0 + 21)) == []
    assert [r.acct_session_id for r in store.changed_since(when(T0), limit=1)] == ["B"]


def test_concurrent_writers_overlapping_sessions(shared_db_url: str, store: SessionStore) -> None:
    """Two writers (two engines) upsert overlapping records of the same sessions at once."""
    del store  # empties the database
    engines = [database.make_engine(shared_db_url, timeout=30) for _ in range(2)]
    stores = [SessionStore(database.make_session_factory(e)) for e in engines]
    keys = [f"K{n:04d}" for n in range(400)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(index: int) -> None:
        # Opposite orders, every record of every session, several overlapping batches.
        order = keys if index == 0 else list(reversed(keys))
        try:
            barrier.wait()
            for round_ in range(6):
                records = []
                for n, key in enumerate(order):
                    station = f"02:00:00:00:{int(key[1:]) // 256:02x}:{int(key[1:]) % 256:02x}"
                    records.append(
                        interim(
                            key,
                            at=T0 + 10 * round_,
                            station=station,
                            session_time=10 * round_ + index,
                            input_octets=n + round_,
                        )
                    )
                    if round_ == 0:
                        records.append(start(key, at=T0 - 1, station=station))
                stores[index].write(records, now=T0 + 10 * round_)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        with stores[0].sessions() as session:
            assert session.scalar(select(func.count()).select_from(AccountingSession)) == len(keys)
        rows = stores[0].find(limit=10000)
        assert all(r.online and r.session_time == 51 for r in rows)
        assert all(r.started_at == when(T0 - 1) for r in rows)
    finally:
        for e in engines:
            e.dispose()


@pytest.mark.parametrize("seed", range(3))
def test_sql_merge_equals_the_pure_rule(store: SessionStore, seed: int) -> None:
    """Random records written in random batches give the rows ``rules/accounting.merge`` gives."""
    rng = random.Random(seed)
    records = []
    for _ in range(150):
        n = rng.randrange(6)
        member = rng.choice([None, None, ("ada@example.org", 1), ("bob@example.org", 2)])
        status = rng.choice([StatusType.START, StatusType.INTERIM_UPDATE, StatusType.STOP])
        # Starts heard before anything else of their session: a Start heard after a Stop
        # is a new session reusing the id (test_a_start_reusing_a_stopped_session_id...).
        at = T0 + (
            rng.randrange(0, 100) if status is StatusType.START else rng.randrange(100, 3000)
        )
        records.append(
            rec(
                status,
                f"R{n}",
                at,
                station=f"aa:bb:cc:dd:ee:{n:02x}",
                user_name=rng.choice(["ada", "bob"] if member else ["", "anonymous"]),
                member_email=member[0] if member else None,
                customer_id=member[1] if member else None,
                class_hex=rng.choice([None, "aa", "bb"]),
                framed_ip_address=rng.choice([None, "10.0.0.1", "10.0.0.2"]),
                session_time=rng.choice([None, rng.randrange(0, 3000)]),
                input_octets=rng.choice([None, rng.randrange(0, 1 << 40)]),
                output_packets=rng.choice([None, rng.randrange(0, 1 << 31)]),
                terminate_cause=rng.choice([None, "User-Request"]),
            )
        )
    position = 0
    while position < len(records):
        size = rng.choice([1, 2, 7, 30])
        store.write(records[position : position + size], now=T0 + 5000)
        position += size
    expected = {u.unique_key: u for u in merge(records)}
    rows = all_sessions(store)
    assert len(rows) == len(expected)
    for row in rows:
        want = expected[row.unique_key]
        got = (
            row.user_name,
            row.member_email,
            row.customer_id,
            row.class_hex,
            row.framed_ip_address,
            row.started_at,
            row.updated_at,
            row.stopped_at,
            counters(row),
            row.terminate_cause,
            row.close_reason,
        )
        assert got == (
            want.user_name,
            want.member_email,
            want.customer_id,
            want.class_hex,
            want.framed_ip_address,
            when(want.started_at),
            when(want.updated_at),
            None if want.stopped_at is None else when(want.stopped_at),
            (
                want.session_time,
                want.input_octets,
                want.output_octets,
                want.input_packets,
                want.output_packets,
            ),
            want.terminate_cause,
            want.close_reason,
        )


def test_out_of_range_values_are_clipped_not_refused(store: SessionStore) -> None:
    """One odd packet must not fail its batch (and every replay of it) for ever."""
    huge = (1 << 32) * ((1 << 32) - 1) + (1 << 32) - 1  # Gigawords and Octets all ones
    store.write(
        [
            interim(
                input_octets=huge,
                class_hex="ab" * 300,
                called_station_id="x" * 100,
                user_name="ada\x00\udcff@example.org",
                nas_identifier=None,
                framed_ip_address="\x00",
            ),
            start("B", station="aa:bb:cc:dd:ee:02"),
        ],
        now=T0,
    )
    rows = {r.acct_session_id: r for r in all_sessions(store)}
    assert rows["S1"].input_octets == (1 << 63) - 1
    assert rows["S1"].class_hex == "ab" * 253 and rows["S1"].called_station_id == "x" * 64
    assert rows["S1"].user_name == "ada@example.org" and rows["S1"].framed_ip_address is None
    assert rows["B"].online


def test_concurrent_writers_with_closes(shared_db_url: str, store: SessionStore) -> None:
    """Upserts racing replaced-closes and Accounting-On closes: nothing escapes, no duplicates.

    Closes lock rows in their own order, so two writers can deadlock on PostgreSQL;
    the store retries the batch (writes are idempotent) and the caller never sees it.
    """
    del store  # empties the database
    engines = [database.make_engine(shared_db_url, timeout=30) for _ in range(3)]
    stores = [SessionStore(database.make_session_factory(e)) for e in engines]
    errors: list[BaseException] = []
    attempts: list[int] = []
    barrier = threading.Barrier(len(stores))
    keys: set[str] = set()

    def batch(rng: random.Random, round_: int) -> list[AccountingRecord]:
        records = []
        for _ in range(300):
            n = rng.randrange(200)
            kind = rng.choice([StatusType.START, StatusType.INTERIM_UPDATE, StatusType.STOP])
            records.append(
                rec(
                    kind,
                    f"C{n}",
                    T0 + round_ * 10 + rng.random(),
                    client=f"ap{n % 4}",
                    station=f"aa:bb:cc:dd:ee:{n % 16:02x}",  # shared: Starts replace others
                    session_time=round_,
                )
            )
            if rng.random() < 0.01:
                records.append(rec(StatusType.ACCOUNTING_ON, at=T0 + round_ * 10, client="ap1"))
        return records

    def writer(index: int) -> None:
        rng = random.Random(index)
        try:
            barrier.wait()
            for round_ in range(15):
                records = batch(rng, round_)
                keys.update(r.unique_key for r in records if r.unique_key)
                attempts.append(stores[index].write(records, now=T0 + round_).attempts)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert len(attempts) == 15 * len(stores)
        rows = stores[0].find(limit=10000)
        assert len(rows) == len({r.unique_key for r in rows})
        # Random Starts after Stops are new sessions reusing an id: their closed
        # predecessors keep a retired key (~id) of their own.
        assert {r.unique_key for r in rows if not r.unique_key.startswith("~")} == keys
        # (Which sessions a Start replaced depends on the random clocks here: a session
        # heard after the Start stays open; test_new_start_on_same_station_replaces_the_old
        # pins the rule down.)
    finally:
        for e in engines:
            e.dispose()


def test_deadlock_is_retried(monkeypatch: pytest.MonkeyPatch, store: SessionStore) -> None:
    """A deadlock or serialization failure retries the whole (idempotent) batch."""
    from sqlalchemy.exc import OperationalError

    class Deadlock(Exception):
        sqlstate = "40P01"

    real = SessionStore._write
    calls = []

    def flaky(self: SessionStore, records: list[AccountingRecord], now: datetime) -> object:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE sessions", {}, Deadlock("deadlock detected"))
        return real(self, records, now)

    monkeypatch.setattr(SessionStore, "_write", flaky)
    result = store.write([start()], now=T0)
    assert result.attempts == 3 and result.sessions_changed == 1
    assert only(store).online

    class Other(Exception):
        sqlstate = "23505"

    def broken(self: SessionStore, records: list[AccountingRecord], now: datetime) -> object:
        raise OperationalError("INSERT", {}, Other("no"))

    monkeypatch.setattr(SessionStore, "_write", broken)
    with pytest.raises(OperationalError):
        store.write([start()], now=T0)


@pytest.mark.parametrize("one_batch", [False, True])
def test_a_start_reusing_a_stopped_session_id_is_a_new_session(
    store: SessionStore, one_batch: bool
) -> None:
    """hostapd gives a device back its Acct-Session-Id when it signs in again within seconds."""
    first = [start(at=T0), stop(at=T0 + 60, input_octets=500)]
    again = [start(at=T0 + 61), interim(at=T0 + 120, input_octets=7)]
    if one_batch:
        store.write(first + again, now=T0 + 121)
    else:
        store.write(first, now=T0 + 60)
        store.write(again, now=T0 + 121)
    old, new = sorted(all_sessions(store), key=lambda r: r.id)
    assert (old.online, old.input_octets, old.unique_key) == (False, 500, f"~{old.id}")
    assert (new.online, new.input_octets, new.started_at) == (True, 7, when(T0 + 61))
    # A retransmission of the first Start (heard before the Stop) opens nothing new.
    store.write([start(at=T0)], now=T0 + 130)
    assert len(all_sessions(store)) == 2
