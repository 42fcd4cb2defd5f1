"""The directory's member view: sharded tables, swapping a new one in, decoding store rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from radius_server.rules.directory import SHARDS, Directory, Member, Members, MemberTable, SeenIds
from radius_server.runtime.sync import MemberDecoder


def _member(number: int, **changes: object) -> Member:
    base = Member(
        id=number,
        email=f"m{number}@example.com",
        pin=f"{number % 100_000:05d}".encode(),
        active=True,
        wifi_access=True,
        valid_from=None,
        valid_until=None,
        pin_changed_at=1_700_000_000.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_lookups_by_email_any_case_and_by_id_across_every_shard() -> None:
    """Enough members to fill every shard many times: each found by email and by id."""
    members = Members()
    count = 20 * SHARDS + 3
    for number in range(1, count + 1):
        assert members.put(_member(number)) is None
    assert len(members) == count
    for number in (1, 2, SHARDS, SHARDS + 1, count):
        wanted = _member(number)
        assert members.get(f"  M{number}@Example.COM ") == wanted
        assert members.by_id(number) == wanted
    assert members.get("nobody@example.com") is None and members.by_id(count + 1) is None
    assert sorted(m.id for m in members.all()) == list(range(1, count + 1))
    assert sum(len(shard) for shard in members.shards()) == count


def test_put_replaces_and_follows_an_email_change_discard_removes() -> None:
    """Replace keeps the count; a new email frees the old one; discard forgets both keys."""
    members = Members()
    members.put(_member(5))
    previous = members.put(_member(5, email="new@example.com", pin=b"24680"))
    assert previous == _member(5) and len(members) == 1
    assert members.get("m5@example.com") is None
    assert members.get("new@example.com") is not None
    assert members.get("new@example.com").pin == b"24680"  # type: ignore[union-attr]
    assert members.discard(5) is not None and len(members) == 0
    assert members.get("new@example.com") is None and members.by_id(5) is None
    assert members.discard(5) is None and len(members) == 0


def test_adopt_swaps_the_whole_view_and_returns_the_old_one_to_dispose() -> None:
    """A table built aside replaces the view at once; the old table empties shard by shard."""
    members = Members()
    members.replace_all([_member(1), _member(2)])
    table = MemberTable()
    for number in (2, 3, 4):
        table.add(_member(number, active=number != 4))
    table.add(_member(3, pin=b"77777"))  # the same id again: the later row wins
    old = members.adopt(table)
    assert len(members) == 3 and members.by_id(1) is None
    assert members.get("m3@example.com").pin == b"77777"  # type: ignore[union-attr]
    assert members.get("m4@example.com").active is False  # type: ignore[union-attr]
    assert old.count == 2 and sum(len(s) for s in old.by_id) == 2
    calls: list[int] = []
    old.dispose(lambda: calls.append(1))
    assert old.count == 0 and all(not s for s in old.by_id + old.by_email)
    assert len(calls) == SHARDS
    assert len(members) == 3  # disposing the old table leaves the view alone


def test_directory_starts_empty_not_ready_not_degraded() -> None:
    """Before the first load nobody is known."""
    directory = Directory()
    assert len(directory.members) == 0 and not directory.ready and not directory.degraded
    assert directory.members.get("ana@example.com") is None


def test_decoder_shares_equal_pins_and_times_and_reads_naive_times_as_utc() -> None:
    """Equal values become one object; a naive datetime (SQLite) is UTC; odd PINs work too."""
    decoder = MemberDecoder()
    changed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    naive = changed.replace(tzinfo=None)
    rows = [
        (1, "a@example.com", "01234", True, True, None, None, changed, "55555", None, None),
        (2, "b@example.com", "55555", False, True, changed, None, changed, "01234", 3, 9),
        (3, "c@example.com", "1234", True, False, None, naive, None, "", 0, None),
    ]
    a, b, third = (decoder.member(row) for row in rows)
    assert a.pin == b"01234" and a.pin is b.previous_pin
    assert b.pin is a.previous_pin
    assert a.pin_changed_at == changed.timestamp() and a.pin_changed_at is b.pin_changed_at
    assert (b.active, b.valid_from, b.device_limit, b.plan_id) == (False, changed.timestamp(), 3, 9)
    assert third.pin == b"1234" and third.previous_pin is None
    assert third.valid_until == changed.timestamp() and third.pin_changed_at is None
    assert (third.wifi_access, third.device_limit) == (False, 0)
    decoder.forget()
    again = decoder.member(rows[0])
    assert again == a  # same values after the caches are dropped


def test_members_trading_emails_one_by_one_stay_reachable() -> None:
    """Applied one at a time, two members swapping emails both end up found by their new one."""
    members = Members()
    members.put(_member(1, email="x@example.com"))
    members.put(_member(2, email="y@example.com"))
    members.put(_member(1, email="y@example.com"))
    members.put(_member(2, email="x@example.com"))
    assert members.get("x@example.com").id == 2  # type: ignore[union-attr]
    assert members.get("y@example.com").id == 1  # type: ignore[union-attr]
    assert len(members) == 2


def test_discarding_a_member_leaves_their_email_to_its_new_owner() -> None:
    """A removed member's email taken by another before the removal is applied stays theirs."""
    members = Members()
    members.put(_member(1, email="x@example.com"))
    members.put(_member(2, email="x@example.com"))  # member 1 is gone in the database
    members.discard(1)
    assert members.get("x@example.com").id == 2  # type: ignore[union-attr]
    assert len(members) == 1 and members.by_id(1) is None


def test_refresh_keeps_equal_members_and_puts_changed_ones() -> None:
    """A reload in place: unchanged objects stay, changed ones are replaced, new ones added."""
    members = Members()
    for number in range(1, 2 * SHARDS + 1):
        members.put(_member(number))
    kept = members.by_id(10)
    for number in range(1, 2 * SHARDS + 3):  # two new at the end
        members.refresh(_member(number, active=number != 20))
    assert members.by_id(10) is kept
    assert members.get("m20@example.com").active is False  # type: ignore[union-attr]
    assert len(members) == 2 * SHARDS + 2


def test_seen_ids_dense_sparse_and_negative() -> None:
    """Bits for the ids a sequence gives, a set for the rest; nothing seen is not contained."""
    seen = SeenIds()
    ids = [0, 1, 7, 8, 1000, 123_457, SeenIds.BITS_LIMIT - 1, SeenIds.BITS_LIMIT, 2**40, -3]
    for member_id in ids:
        seen.add(member_id)
    for member_id in ids:
        assert member_id in seen
    for member_id in (2, 9, 999, 123_456, SeenIds.BITS_LIMIT + 1, -4, 10**9):
        assert member_id not in seen


def test_sweep_removes_the_members_a_reload_did_not_see() -> None:
    """Shard by shard, calling ``between`` after each; emails go with the members."""
    members = Members()
    for number in range(1, 2 * SHARDS + 1):
        members.put(_member(number))
    seen = SeenIds()
    for number in range(2, 2 * SHARDS + 1):
        seen.add(number)
    calls: list[int] = []
    assert members.sweep(seen.__contains__, lambda: calls.append(1)) == 1
    assert len(calls) == SHARDS
    assert members.by_id(1) is None and members.get("m1@example.com") is None
    assert len(members) == 2 * SHARDS - 1


def test_decoder_adopts_the_views_pin_objects_on_a_reload() -> None:
    """An equal PIN of the member the view holds becomes the shared object; another is not."""
    decoder = MemberDecoder()
    held = _member(7, pin=b"01234", previous_pin=b"55555")
    row = (7, "m7@example.com", "01234", True, True, None, None, None, "55555", None, None)
    again = decoder.member(row, held)
    assert again.pin is held.pin and again.previous_pin is held.previous_pin
    other = decoder.member((8, "m8@example.com", "01234", True, True) + (None,) * 6, None)
    assert other.pin is held.pin  # shared from then on
    changed = decoder.member((9, "m9@example.com", "99999", True, True) + (None,) * 6, held)
    assert changed.pin == b"99999" and changed.pin is not held.pin


def test_decoder_same_agrees_with_building_and_comparing_a_member() -> None:
    """``same(row, m)`` is ``member(row) == m`` for a change in any one column, or none."""
    changed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = datetime(2026, 2, 2, 3, 4, 5, tzinfo=UTC)
    base = (7, "m7@example.com", "01234", True, True, changed, None, changed, "55555", None, 3)
    held = MemberDecoder().member(base)
    variants = [base]
    replacements = [8, "x@example.com", "01235", False, False, later, later, later, "55556", 2, 4]
    for column, value in enumerate(replacements):
        if column == 0:
            continue  # the id picks the member, it is never compared
        variants.append((*base[:column], value, *base[column + 1 :]))
    variants.append((*base[:8], "", *base[9:]))  # no previous PIN
    variants.append((*base[:5], None, *base[6:]))  # no valid-from
    decoder = MemberDecoder()
    for row in variants:
        assert decoder.same(row, held) == (decoder.member(row) == held), row
    assert decoder.same(base, held)
