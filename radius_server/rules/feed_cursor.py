"""Pure bookkeeping of how far a server has read the change feed.

On PostgreSQL, sequence numbers are handed out at insert but become visible
at commit, so seq 11 can appear before seq 10. The cursor therefore remembers
holes below the highest sequence seen and keeps asking for them until they
appear or are old enough to be a rolled-back transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

# A hole older than this is taken for a rolled-back insert, not a slow commit.
HOLE_PATIENCE_SECONDS = 30.0
# Above this many holes, give up tracking and ask for a full reload.
MAX_HOLES = 10_000
# After a full reload, gaps this close below the position are still awaited.
RECENT_WINDOW = 256


class FeedCursor:
    """Highest sequence applied, and the holes below it."""

    def __init__(self, position: int = 0) -> None:
        self.highest = position
        self._holes: dict[int, float] = {}
        self.needs_full_reload = False

    @property
    def floor(self) -> int:
        """Ask the feed for everything above this."""
        return min(self._holes) - 1 if self._holes else self.highest

    @property
    def holes(self) -> list[int]:
        """Sequences below ``highest`` still awaited, oldest first."""
        return sorted(self._holes)

    def is_new(self, seq: int) -> bool:
        """True for a sequence not applied yet (above the highest, or a known hole).

        Re-reading from ``floor`` returns rows already applied above a hole;
        feeds whose events are not idempotent skip those.
        """
        return seq > self.highest or seq in self._holes

    def reset(self, position: int, present: Iterable[int] | None = None, now: float = 0.0) -> None:
        """After a full reload at ``position``.

        ``present``: the sequences visible at load time among the most recent ones
        (``position - RECENT_WINDOW`` up to ``position``). The others in that range
        become holes: one may belong to a transaction still committing, whose
        change the load did not see either.
        """
        self.highest = position
        self._holes.clear()
        self.needs_full_reload = False
        if present is not None:
            seen = set(present)
            for seq in range(max(0, position - RECENT_WINDOW) + 1, position):
                if seq not in seen:
                    self._holes[seq] = now

    def advance(self, seqs: Iterable[int], now: float) -> None:
        """Record the sequences just applied; note holes; forget stale holes."""
        for seq in sorted(seqs):
            if seq in self._holes:
                del self._holes[seq]
            elif seq > self.highest:
                if seq - self.highest - 1 > MAX_HOLES - len(self._holes):
                    # A jump this large is a reset or mass rollback, not commits in
                    # flight: don't track millions of holes, ask for a full reload.
                    self.needs_full_reload = True
                else:
                    for missing in range(self.highest + 1, seq):
                        self._holes[missing] = now
                self.highest = seq
        expired = [s for s, seen in self._holes.items() if now - seen > HOLE_PATIENCE_SECONDS]
        for seq in expired:
            del self._holes[seq]

    def check_pruned(self, oldest_seq: int | None) -> None:
        """If entries we never read were pruned away, only a full reload is safe.

        Judged from ``highest``, not from the holes: a pruned feed keeps only its
        newest entry, so after a reload every recent sequence below it is a hole
        that will never fill, and judging from those would reload on every poll.
        """
        if oldest_seq is not None and self.highest + 1 < oldest_seq:
            self.needs_full_reload = True
