"""rules/accounting.merge and combine: records of one session merged (pure).

The store's upsert applies ``combine`` in SQL (tests/integration/test_session_store.py
checks the two agree); here the rule itself: idempotent, order of application
preserved, merging a batch first equals applying it record by record.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import reduce

import pytest

from radius_server.rules.accounting import (
    AccountingRecord,
    SessionUpdate,
    StatusType,
    combine,
    merge,
    unique_session_key,
)

T0 = 1_800_000_000.0


def rec(
    status: StatusType, at: float, session_id: str = "S1", **values: object
) -> AccountingRecord:
    fields: dict[str, object] = {
        "status": status,
        "unique_key": unique_session_key("ap1", "192.0.2.1", None, 7, session_id),
        "client_name": "ap1",
        "nas_address": "192.0.2.1",
        "acct_session_id": session_id,
        "user_name": "anonymous",
        "event_time": at,
        "received_at": at,
        "nas_ip_address": "192.0.2.1",
        "nas_port": 7,
    }
    fields.update(values)
    return AccountingRecord(**fields)  # type: ignore[arg-type]


def one(records: list[AccountingRecord]) -> SessionUpdate:
    merged = merge(records)
    assert len(merged) == 1
    return merged[0]


def test_counters_take_the_largest_and_times_widen() -> None:
    merged = one(
        [
            rec(StatusType.START, T0),
            rec(
                StatusType.INTERIM_UPDATE,
                T0 + 600,
                session_time=600,
                input_octets=5,
                output_packets=9,
            ),
            rec(StatusType.INTERIM_UPDATE, T0 + 300, session_time=300, input_octets=9),  # late
        ]
    )
    assert (merged.session_time, merged.input_octets, merged.output_packets) == (600, 9, 9)
    assert merged.started_at == T0 and merged.updated_at == T0 + 600
    assert merged.stopped_at is None and merged.close_reason is None
    assert merged.start_received_at == T0


def test_first_stop_wins_and_interim_after_it_does_not_reopen() -> None:
    merged = one(
        [
            rec(StatusType.STOP, T0 + 900, session_time=900, terminate_cause="Lost-Carrier"),
            rec(StatusType.INTERIM_UPDATE, T0 + 950, session_time=950),
            rec(StatusType.STOP, T0 + 990, terminate_cause="User-Request"),
        ]
    )
    assert merged.stopped_at == T0 + 900 and merged.close_reason == "stop"
    assert merged.terminate_cause == "Lost-Carrier"
    assert merged.session_time == 950 and merged.started_at == T0
    assert merged.start_received_at is None


def test_stop_replaces_a_close_of_ours() -> None:
    stale = SessionUpdate(
        unique_key="k",
        client_name="ap1",
        nas_address="192.0.2.1",
        acct_session_id="S1",
        user_name="",
        started_at=T0,
        updated_at=T0,
        stopped_at=T0,
        close_reason="stale",
    )
    stop = SessionUpdate.of(rec(StatusType.STOP, T0 + 500, terminate_cause="Idle-Timeout"))
    after = combine(stale, stop)
    assert after.close_reason == "stop" and after.stopped_at == T0 + 500
    assert after.terminate_cause == "Idle-Timeout"
    interim = SessionUpdate.of(rec(StatusType.INTERIM_UPDATE, T0 + 600))
    assert combine(stale, interim).close_reason == "stale"
    assert combine(stale, interim).stopped_at == T0


def test_member_named_later_brings_its_identity() -> None:
    merged = one(
        [
            rec(StatusType.START, T0, user_name="anonymous", class_hex=None),
            rec(
                StatusType.INTERIM_UPDATE,
                T0 + 60,
                user_name="ada@example.org",
                member_email="ada@example.org",
                customer_id=3,
                class_hex="aa",
            ),
            rec(StatusType.INTERIM_UPDATE, T0 + 120, member_email="bob@example.org", customer_id=4),
        ]
    )
    assert (merged.member_email, merged.customer_id, merged.user_name) == (
        "ada@example.org",
        3,
        "ada@example.org",
    )
    assert merged.class_hex == "aa"  # the first known


def test_first_known_values_and_latest_addresses() -> None:
    merged = one(
        [
            rec(
                StatusType.START, T0, user_name="", calling_station_id=None, framed_ip_address=None
            ),
            rec(
                StatusType.INTERIM_UPDATE,
                T0 + 1,
                user_name="ada",
                calling_station_id="aa:bb:cc:dd:ee:ff",
                framed_ip_address="10.0.0.1",
                nas_address="192.0.2.5",
            ),
            rec(
                StatusType.INTERIM_UPDATE,
                T0 + 2,
                user_name="bob",
                calling_station_id="11:22:33:44:55:66",
                framed_ip_address="10.0.0.2",
            ),
            rec(StatusType.INTERIM_UPDATE, T0 + 3, framed_ip_address=None),
        ]
    )
    assert merged.user_name == "ada" and merged.calling_station_id == "aa:bb:cc:dd:ee:ff"
    assert merged.framed_ip_address == "10.0.0.2" and merged.nas_address == "192.0.2.1"


def test_one_update_per_session_sorted_by_key() -> None:
    records = [rec(StatusType.START, T0, session_id=f"S{n}") for n in range(20)]
    merged = merge(records + records)
    assert [u.unique_key for u in merged] == sorted({r.unique_key for r in records})


def test_accounting_on_is_refused() -> None:
    on = rec(StatusType.ACCOUNTING_ON, T0, unique_key="")
    with pytest.raises(ValueError):
        merge([on])


def _random_records(rng: random.Random, count: int) -> list[AccountingRecord]:
    statuses = [
        StatusType.START,
        StatusType.INTERIM_UPDATE,
        StatusType.INTERIM_UPDATE,
        StatusType.STOP,
    ]
    members = [None, None, ("ada@example.org", 1), ("bob@example.org", 2)]
    records = []
    for _ in range(count):
        member = rng.choice(members)
        records.append(
            rec(
                rng.choice(statuses),
                T0 + rng.randrange(0, 1000),
                # A record names a member when our Class or its User-Name did.
                user_name=rng.choice(["ada", "bob"] if member else ["", "anonymous", "ada"]),
                member_email=member[0] if member else None,
                customer_id=member[1] if member else None,
                class_hex=rng.choice([None, "aa", "bb"]),
                calling_station_id=rng.choice([None, "aa:bb:cc:dd:ee:ff", "11:22:33:44:55:66"]),
                framed_ip_address=rng.choice([None, "10.0.0.1", "10.0.0.2"]),
                session_time=rng.choice([None, rng.randrange(0, 1000)]),
                input_octets=rng.choice([None, rng.randrange(0, 1 << 40)]),
                terminate_cause=rng.choice([None, "User-Request", "Lost-Carrier"]),
            )
        )
    return records


@pytest.mark.parametrize("seed", range(200))
def test_merging_a_batch_first_equals_applying_record_by_record(seed: int) -> None:
    """The property the store relies on: any split into batches gives the same row."""
    rng = random.Random(seed)
    records = _random_records(rng, rng.randrange(1, 12))
    updates = [SessionUpdate.of(r) for r in records]
    one_by_one = reduce(combine, updates)
    cut = rng.randrange(0, len(records) + 1)
    if 0 < cut < len(records):
        in_two = combine(one(records[:cut]), one(records[cut:]))
    else:
        in_two = one(records)
    assert in_two == one_by_one
    # A replay of the whole batch changes nothing.
    assert combine(one_by_one, one(records)) == one_by_one
    # Nor does a replay of any one record, but for the addresses, which are the
    # latest applied (a NAS's address or a Framed-IP-Address seldom changes mid-session).
    replay = combine(one_by_one, rng.choice(updates))
    latest = {"nas_address": None, "called_station_id": None, "framed_ip_address": None}
    assert replace(replay, **latest) == replace(one_by_one, **latest)
