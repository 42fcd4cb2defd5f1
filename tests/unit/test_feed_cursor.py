"""The change-feed cursor: holes after a reload, and what counts as new."""

from __future__ import annotations

from radius_server.rules.feed_cursor import HOLE_PATIENCE_SECONDS, RECENT_WINDOW, FeedCursor


def test_reset_awaits_recent_sequences_not_visible_at_load() -> None:
    """Missing recent sequences become holes; older gaps and the position itself do not."""
    cursor = FeedCursor()
    cursor.reset(1000, present=[1000, 998, 5], now=0.0)
    assert cursor.holes == [s for s in range(1000 - RECENT_WINDOW + 1, 1000) if s != 998]
    assert cursor.is_new(999) and not cursor.is_new(998) and not cursor.is_new(5)
    cursor.advance([999], now=1.0)
    assert 999 not in cursor.holes
    cursor.advance([], now=HOLE_PATIENCE_SECONDS + 1)
    assert cursor.holes == [] and cursor.floor == 1000


def test_reset_without_recent_sequences_keeps_no_holes() -> None:
    """Callers that know nothing about recent sequences (guessing protection) get none."""
    cursor = FeedCursor()
    cursor.reset(50)
    assert cursor.holes == [] and cursor.highest == 50


def test_a_pruned_feed_does_not_make_reload_holes_look_missed() -> None:
    """Only the newest entry left (pruned feed): the reload's holes trigger no new reload."""
    cursor = FeedCursor()
    cursor.reset(1000, present=[1000], now=0.0)
    cursor.check_pruned(1000)
    assert not cursor.needs_full_reload
    cursor.check_pruned(1002)  # 1001 was pruned before we read it
    assert cursor.needs_full_reload
