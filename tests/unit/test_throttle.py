"""The pure Throttle: windows, distinct counting, known devices, clears, releases."""

from __future__ import annotations

from radius_server.feed_cursor import FeedCursor
from radius_server.ratelimit import LogThrottle
from radius_server.throttle import (
    DAY,
    EventKind,
    Scope,
    Throttle,
    ThrottleEvent,
    ThrottleSettings,
    Window,
    fingerprint,
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
    from radius_server.guard import Guard
    from tests.unit.engine_harness import RecordingLog

    guard = Guard(ThrottleSettings(enabled=False, user_budget=1), RecordingLog())
    guard.failed("u", None, None, T0)
    guard.failed("u", None, None, T0)
    assert guard.gate("u", None, T0) is None
    assert not guard.outbox.pending and not guard.throttle.users
