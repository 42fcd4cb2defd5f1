"""The pure Throttle: windows, distinct counting, known devices, clears, releases."""

from __future__ import annotations

from radius_server.rules.feed_cursor import FeedCursor
from radius_server.rules.ratelimit import LogThrottle
from radius_server.rules.throttle import (
    DAY,
    HOUR,
    EventKind,
    Scope,
    Throttle,
    ThrottleEvent,
    ThrottleSettings,
    Window,
    fingerprint,
    identity_key,
    key_id,
    location_key,
    normalize_station,
)

T0 = 1_800_000_000.0
KEY = b"k" * 32


def fail(
    user: str, pin: str | None, at: float, device: str | None = None, known: bool = False
) -> ThrottleEvent:
    """A failure event (PIN None: a CHAP-like failure)."""
    mark = fingerprint(KEY, user, pin.encode()) if pin else None
    return ThrottleEvent(EventKind.FAILURE, at, user, device, known, mark)


def test_window_counts_distinct_and_forgets_old() -> None:
    """Repeats are free; marks leave the window after its span."""
    window = Window()
    for i, mark in enumerate([b"a", b"b", b"a", b"c"]):
        window.add(mark, T0 + i)
    assert window.count(T0 + 10, 100) == 3
    assert window.count(T0 + 101.5, 100) == 1
    assert window.release_time(1, 100) == T0 + 3 + 100


def test_user_lock_starts_at_budget_and_releases_after_window() -> None:
    """Budget reached: locked until the oldest failure leaves the window."""
    throttle = Throttle(ThrottleSettings(user_budget=3, user_window=100))
    for i in range(2):
        assert throttle.apply(fail("u", f"1111{i}", T0 + i)) == []
    started = throttle.apply(fail("u", "22222", T0 + 2))
    assert [(t.started, t.scope) for t in started] == [(True, Scope.USER)]
    block = throttle.gate("u", None, T0 + 3)
    assert block is not None and block.locked_out and block.until == T0 + 100
    assert throttle.gate("u", None, T0 + 100.5) is None
    assert [t.started for t in throttle.expire(T0 + 101)] == [False]


def test_known_device_only_judged_by_its_own_budget() -> None:
    """A device that succeeded bypasses user, station and global locks."""
    throttle = Throttle(ThrottleSettings(user_budget=1, global_budget=1, station_budget=1))
    throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0, "u", "phone", True))
    throttle.apply(fail("u", "11111", T0 + 1, "evil"))
    assert throttle.gate("u", "other", T0 + 2) is not None
    assert throttle.gate("u", "phone", T0 + 2) is None
    assert not throttle.is_known("u", "phone", T0 + 91 * DAY)


def test_known_devices_are_capped_per_user() -> None:
    """Only the most recent devices stay known."""
    throttle = Throttle(ThrottleSettings(max_known_devices=2))
    for i, device in enumerate(["a", "b", "c"]):
        throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0 + i, "u", device, True))
    assert set(throttle.known["u"]) == {"b", "c"}


def test_clear_releases_user_and_device_locks() -> None:
    """An admin clear forgets the member's failures; others are untouched."""
    throttle = Throttle(ThrottleSettings(user_budget=1, device_budget=1))
    throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0, "u", "phone", True))
    throttle.apply(fail("u", "11111", T0, "phone", known=True))
    throttle.apply(fail("u", "11111", T0, "x"))
    throttle.apply(fail("v", "11111", T0, "y"))
    released = throttle.apply(ThrottleEvent(EventKind.CLEAR, T0 + 1, "u"))
    assert {t.scope for t in released} == {Scope.USER, Scope.DEVICE}
    assert throttle.gate("u", "phone", T0 + 2) is None
    assert throttle.gate("v", "z", T0 + 2) is not None


def test_late_remote_events_keep_window_order() -> None:
    """Events from another instance may arrive out of order."""
    window = Window()
    window.add(b"late", T0 + 50)
    window.add(b"early", T0 + 10)
    assert list(window.marks) == [b"early", b"late"]
    assert window.count(T0 + 70, 50) == 1


def test_feed_cursor_remembers_holes() -> None:
    """A sequence seen after a higher one is still applied; old holes are forgotten."""
    cursor = FeedCursor(10)
    cursor.advance([11, 13], now=0)
    assert cursor.floor == 11 and cursor.is_new(12) and not cursor.is_new(13)
    cursor.advance([12], now=1)
    assert cursor.floor == 13
    cursor.advance([20], now=2)
    cursor.advance([], now=100)
    assert cursor.floor == 20


def test_log_throttle_counts_suppressed() -> None:
    """First event logged, the rest counted and reported with the next logged one."""
    limiter = LogThrottle(interval=10)
    assert limiter.admit("k", 0) == 0
    assert limiter.admit("k", 1) is None
    assert limiter.admit("k", 2) is None
    assert limiter.admit("k", 11) == 2


def test_feed_cursor_huge_jump_is_not_tracked_hole_by_hole() -> None:
    """A reset sequence (millions ahead) asks for a reload instead of tracking holes."""
    cursor = FeedCursor(0)
    cursor.advance([2_000_000], now=0)
    assert cursor.needs_full_reload and cursor.floor == 2_000_000


def test_disabled_guard_neither_counts_nor_shares() -> None:
    """throttle_enabled = false: no budgets, nothing queued for the database."""
    from radius_server.runtime.guard import Guard
    from tests.unit.engine_harness import RecordingLog

    guard = Guard(ThrottleSettings(enabled=False, user_budget=1), RecordingLog())
    guard.failed("u", None, None, T0)
    guard.failed("u", None, None, T0)
    assert guard.gate("u", None, T0) is None
    assert not guard.outbox.pending and not guard.throttle.users


def test_global_budget_fixed_input() -> None:
    """Exactly global_budget failures from distinct users, stations and places: defensive mode.

    Unknown devices anywhere are throttled (scope global) until the first
    failure leaves the window; a known device is not affected.
    """
    settings = ThrottleSettings()
    throttle = Throttle(settings)
    throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0, "member", "phone", True))
    started = []
    for i in range(settings.global_budget):
        event = ThrottleEvent(
            EventKind.FAILURE, T0 + i, f"u{i}", f"s{i}", False, None, f"ap{i % 10}"
        )
        started += throttle.apply(event)
    assert [(t.scope, t.key) for t in started] == [(Scope.GLOBAL, "*")]
    now = T0 + settings.global_budget
    block = throttle.gate("newcomer", "laptop", now, "ap-elsewhere")
    assert block is not None and not block.locked_out
    assert (block.scope, block.until) == (Scope.GLOBAL, T0 + settings.global_window)
    assert throttle.gate("member", "phone", now, "ap0") is None
    assert throttle.gate("newcomer", "laptop", T0 + settings.global_window + 0.5) is None


def test_location_budget_throttles_only_that_location() -> None:
    """A guesser in radio range of one access point exhausts that place, not the site."""
    settings = ThrottleSettings()
    throttle = Throttle(settings)
    for i in range(settings.location_budget):
        throttle.apply(
            ThrottleEvent(EventKind.FAILURE, T0 + i, f"u{i}", f"rot{i}", False, None, "lobby")
        )
    now = T0 + settings.location_budget
    block = throttle.gate("newcomer", "laptop", now, "lobby")
    assert block is not None and (block.scope, block.key) == (Scope.LOCATION, "lobby")
    assert throttle.gate("newcomer", "laptop", now, "cafe") is None
    assert throttle.gate("newcomer", "laptop", now, None) is None


def test_success_forgives_a_newcomers_typo() -> None:
    """Failures then a success from the same device for the same user: station, location
    and global budgets forget them; the per-user budget still counts them."""
    throttle = Throttle(ThrottleSettings(location_budget=2, global_budget=2))
    throttle.apply(fail_at("ana", "11111", T0, "laptop", "lobby"))
    throttle.apply(fail_at("ana", "11112", T0 + 5, "laptop", "lobby"))
    assert throttle.gate("bo", "tablet", T0 + 6, "lobby") is not None
    released = throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0 + 10, "ana", "laptop", True))
    assert {(t.started, t.scope) for t in released} == {
        (False, Scope.LOCATION),
        (False, Scope.GLOBAL),
    }
    assert throttle.locks(T0 + 10) == []
    assert throttle.gate("bo", "tablet", T0 + 11, "lobby") is None
    assert throttle.global_window.count(T0 + 11, HOUR) == 0
    assert throttle.users["ana"].count(T0 + 11, DAY) == 2


def test_forgiveness_needs_the_same_user_device_and_a_recent_failure() -> None:
    """A sprayer who signs in as himself, or a success long after, forgives nothing."""
    settings = ThrottleSettings()
    throttle = Throttle(settings)
    throttle.apply(fail_at("victim", "11111", T0, "evil", "lobby"))
    throttle.apply(fail_at("other", "22222", T0, "laptop", "lobby"))
    throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0 + 1, "attacker", "evil", True))
    late = T0 + settings.forgive_window + 2
    throttle.apply(ThrottleEvent(EventKind.SUCCESS, late, "other", "laptop", True))
    assert throttle.global_window.count(late, HOUR) == 2
    assert throttle.locations["lobby"].count(late, HOUR) == 2


def test_forget_removes_a_known_device() -> None:
    """An admin's device removal: the device is judged as unknown again."""
    throttle = Throttle(ThrottleSettings(user_budget=1))
    throttle.apply(ThrottleEvent(EventKind.SUCCESS, T0, "u", "aa:bb:cc:dd:ee:ff", True))
    throttle.apply(fail_at("u", "11111", T0 + 1, "x", None))
    assert throttle.gate("u", "aa:bb:cc:dd:ee:ff", T0 + 2) is None
    throttle.apply(ThrottleEvent(EventKind.FORGET, T0 + 3, "u", "aa:bb:cc:dd:ee:ff", True))
    block = throttle.gate("u", "aa:bb:cc:dd:ee:ff", T0 + 4)
    assert block is not None and block.scope is Scope.USER


def test_fingerprint_is_keyed() -> None:
    """Without the key, trying every code does not find the wrong PIN that was typed."""
    mark = fingerprint(KEY, "ana@example.com", b"48213")
    assert mark == fingerprint(KEY, "ana@example.com", b"48213")
    assert mark != fingerprint(b"z" * 32, "ana@example.com", b"48213")
    assert mark != fingerprint(KEY, "bo@example.com", b"48213")
    assert key_id(KEY) != key_id(b"z" * 32) and len(key_id(KEY)) == 8


def test_wire_identities_are_made_storable() -> None:
    """NUL and other control characters, lone surrogates and excess length are removed."""
    assert identity_key(" Ana\x00@Example.com\r\n") == "ana@example.com"
    assert identity_key("a\ud800b") == "ab"
    assert len(identity_key("x" * 1000)) == 254
    assert identity_key("ana@example.com") == "ana@example.com"
    assert normalize_station("dev\x00ice") == "device"
    assert normalize_station("02-00-00-00-00-0B") == "02:00:00:00:00:0b"


def test_location_key_names_client_and_access_point() -> None:
    """Called-Station-Id's MAC (any notation, SSID ignored) refines the client."""
    assert location_key("hall", "AA-BB-CC-DD-EE-FF:Coworking") == "hall/aa:bb:cc:dd:ee:ff"
    assert location_key("hall", "aa:bb:cc:dd:ee:ff:Guest") == "hall/aa:bb:cc:dd:ee:ff"
    assert location_key("hall", "aabbccddeeff:Coworking") == "hall/aa:bb:cc:dd:ee:ff"
    assert location_key("hall", "Coworking") == "hall"
    assert location_key("hall", None) == "hall"
    assert location_key("ha\x00ll", None) == "hall"


def fail_at(
    user: str, pin: str, at: float, device: str | None, location: str | None
) -> ThrottleEvent:
    """A PAP failure from an unknown device at a location."""
    mark = fingerprint(KEY, user, pin.encode())
    return ThrottleEvent(EventKind.FAILURE, at, user, device, False, mark, location)
