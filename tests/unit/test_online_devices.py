"""The online-devices view (rules/online.py): sessions and accepts counted per member."""

from __future__ import annotations

from dataclasses import replace

from radius_server.rules.accounting import AccountingRecord, StatusType
from radius_server.rules.online import OnlineDevices

NOW = 1_800_000_000.0
ANA, BOB = 1, 2
PHONE, LAPTOP = "02:00:00:00:00:01", "02:00:00:00:00:02"
NAS = ("lobby", "192.0.2.10", "ap-1")


def record(
    status: StatusType = StatusType.START,
    key: str = "k1",
    station: str | None = PHONE,
    at: float = NOW,
    member: int | None = ANA,
) -> AccountingRecord:
    return AccountingRecord(
        status=status,
        unique_key=key if status.per_session else "",
        client_name="lobby",
        nas_address="192.0.2.10",
        acct_session_id=key,
        user_name="ana@example.com",
        event_time=at,
        received_at=at,
        nas_ip_address="192.0.2.10",
        nas_identifier="ap-1",
        member_email="ana@example.com" if member else None,
        customer_id=member,
        calling_station_id=station,
    )


def devices(view: OnlineDevices, member: int = ANA, now: float = NOW) -> set[str]:
    return set(view.stations(member, now))


def test_start_counts_stop_uncounts() -> None:
    view = OnlineDevices()
    view.apply(record())
    assert devices(view) == {PHONE}
    view.apply(record(StatusType.INTERIM_UPDATE, at=NOW + 600))
    assert devices(view) == {PHONE}
    view.apply(record(StatusType.STOP, at=NOW + 900))
    assert devices(view) == set()
    assert view.open_sessions == 0


def test_one_device_roaming_has_two_sessions_but_counts_once() -> None:
    """Roaming to another access point: a new session, the same Calling-Station-Id."""
    view = OnlineDevices()
    view.apply(record(key="on-ap-1"))
    view.apply(record(key="on-ap-2", at=NOW + 5))
    assert devices(view) == {PHONE}
    assert view.open_sessions == 2
    view.apply(record(StatusType.STOP, key="on-ap-1", at=NOW + 6))
    assert devices(view) == {PHONE}  # still on through the second access point


def test_sessions_without_station_count_one_device_each() -> None:
    view = OnlineDevices()
    view.apply(record(key="a", station=None))
    view.apply(record(key="b", station=None))
    assert len(view.stations(ANA, NOW)) == 2


def test_members_are_counted_apart_and_unknown_sessions_count_for_no_one() -> None:
    view = OnlineDevices()
    view.apply(record(key="a"))
    view.apply(record(key="b", member=BOB, station=LAPTOP))
    view.apply(record(key="c", member=None, station="02:00:00:00:00:09"))
    assert devices(view, ANA) == {PHONE}
    assert devices(view, BOB) == {LAPTOP}
    assert view.open_sessions == 2


def test_an_older_state_arriving_late_changes_nothing() -> None:
    """The follower reads a row again (overlap), or a replay brings an old interim."""
    view = OnlineDevices()
    view.apply(record(at=NOW))
    view.apply(record(StatusType.STOP, at=NOW + 100))
    view.observe("k1", ANA, PHONE, True, NOW + 50, NAS)  # the row as it was before the Stop
    view.apply(record(StatusType.INTERIM_UPDATE, at=NOW + 60))
    assert devices(view) == set()


def test_at_the_same_time_closed_wins() -> None:
    """A stale close stops a session at its last update: the same time as its open state."""
    view = OnlineDevices()
    view.observe("k1", ANA, PHONE, True, NOW, NAS)
    view.observe("k1", ANA, PHONE, False, NOW, NAS)
    assert devices(view) == set()
    view.observe("k1", ANA, PHONE, True, NOW, NAS)  # the open row read again
    assert devices(view) == set()
    view.observe("k1", ANA, PHONE, True, NOW + 1, NAS)  # a later interim: on after all
    assert devices(view) == {PHONE}


def test_an_interim_never_reopens_a_closed_session_but_a_start_does() -> None:
    """As the store: hostapd reuses an Acct-Session-Id for a new session within seconds."""
    view = OnlineDevices()
    view.apply(record(at=NOW))
    view.apply(record(StatusType.STOP, at=NOW + 10))
    view.apply(record(StatusType.INTERIM_UPDATE, at=NOW + 20))
    assert devices(view) == set()
    view.apply(record(StatusType.START, at=NOW + 30))
    assert devices(view) == {PHONE}
    view.apply(record(StatusType.STOP, at=NOW + 40))
    view.observe("k1", ANA, PHONE, True, NOW + 50, NAS)  # the row says open: the truth
    assert devices(view) == {PHONE}


def test_reading_the_same_row_twice_counts_it_once() -> None:
    view = OnlineDevices()
    for _ in range(3):
        view.observe("k1", ANA, PHONE, True, NOW, NAS)
    assert view.open_sessions == 1


def test_accounting_on_closes_that_nas_sessions_heard_before_it() -> None:
    view = OnlineDevices()
    view.apply(record(key="a", at=NOW))
    view.observe("b", BOB, LAPTOP, True, NOW, ("other-nas", None, None))
    view.apply(record(StatusType.ACCOUNTING_ON, at=NOW + 10))
    assert devices(view, ANA) == set()
    assert devices(view, BOB) == {LAPTOP}
    # What the NAS says after its restart counts again.
    view.apply(record(key="a2", at=NOW + 20))
    assert devices(view, ANA) == {PHONE}


def test_an_accept_counts_until_its_start_arrives_or_for_a_while() -> None:
    view = OnlineDevices(pending_seconds=60)
    view.accepted(ANA, LAPTOP, NOW)
    assert devices(view, now=NOW + 1) == {LAPTOP}
    view.apply(record(station=LAPTOP, at=NOW + 2))  # its Start: now a session
    view.apply(record(StatusType.STOP, station=LAPTOP, at=NOW + 3))
    assert devices(view, now=NOW + 4) == set()  # stopped: the accept no longer counts
    view.accepted(ANA, PHONE, NOW + 10)
    assert devices(view, now=NOW + 69) == {PHONE}
    assert devices(view, now=NOW + 70) == set()  # no Start ever came


def test_accepts_without_station_are_not_held() -> None:
    """Nothing tells one from the next (a probe every few seconds): only their sessions count."""
    view = OnlineDevices()
    for _ in range(5):
        view.accepted(ANA, None, NOW)
    assert len(view.stations(ANA, NOW)) == 0


def test_an_accept_for_a_device_already_online_adds_nothing() -> None:
    view = OnlineDevices()
    view.apply(record())
    view.accepted(ANA, PHONE, NOW + 1)
    view.accepted(ANA, LAPTOP, NOW + 1)
    assert sorted(view.stations(ANA, NOW + 2)) == [PHONE, LAPTOP]


def test_expire_drops_silent_sessions_and_stale_states_stay_out() -> None:
    view = OnlineDevices(silent_for=1320)
    view.apply(record(key="old", at=NOW))
    view.apply(record(key="fresh", station=LAPTOP, at=NOW + 1000))
    assert view.expire(NOW + 1400) == 1
    assert devices(view, now=NOW + 1400) == {LAPTOP}
    # A replay of the old session's interim from before the horizon: still stale.
    view.apply(record(StatusType.INTERIM_UPDATE, key="old", at=NOW + 60))
    assert devices(view, now=NOW + 1400) == {LAPTOP}
    # A session row closed long ago is not even remembered.
    view.observe("ancient", ANA, PHONE, False, NOW - 5000, NAS)
    assert "ancient" not in view._sessions


def test_a_session_tied_to_a_member_later_counts_for_them() -> None:
    """The first packet named no member we know (outer identity); a later one does."""
    view = OnlineDevices()
    view.apply(record(member=None))
    assert devices(view) == set()
    view.apply(replace(record(StatusType.INTERIM_UPDATE, at=NOW + 1), customer_id=ANA))
    assert devices(view) == {PHONE}
    view.apply(record(StatusType.STOP, at=NOW + 2, member=None))
    assert devices(view) == set()
