"""The in-memory view the hot path reads: customers by email, clients by address.

Pure data structures, no I/O and no storage types: ``runtime/sync.py`` maps the store's
records to these and fills them from the database. Lookups
are dictionary reads, so deciding a request never waits on storage.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from radius_server.rules.plans import DEFAULT_VENDOR, Location, Plans

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Member:
    """What a decision needs to know about a customer. ``repr`` hides the PIN."""

    id: int
    email: str
    pin: bytes = field(repr=False)
    active: bool
    wifi_access: bool
    valid_from: float | None  # POSIX seconds, UTC
    valid_until: float | None
    pin_changed_at: float | None
    previous_pin: bytes | None = field(default=None, repr=False)
    # Devices online at once: None = the server's setting device_limit, 0 = unlimited.
    device_limit: int | None = None
    # The member's access plan (rules/plans.py); None: the default plan.
    plan_id: int | None = None


@dataclass(frozen=True, slots=True)
class Client:
    """A RADIUS client as the engine needs it. ``repr`` hides the secret."""

    id: int
    name: str
    network: IPNetwork
    secret: bytes = field(repr=False)
    require_message_authenticator: bool
    # RFC 5176 dynamic authorization: the NAS's UDP port (None: it takes no
    # Disconnect-Requests) and their secret (None: ``secret``).
    coa_port: int | None = None
    coa_secret: bytes | None = field(default=None, repr=False)
    # How the NAS wants VLAN and bandwidth said (rules/plans.py VENDORS).
    vendor: str = DEFAULT_VENDOR
    # The location it stands at (rules/plans.py Location); None: none set.
    location_id: int | None = None
    # Whether it takes CoA-Requests (RFC 5176) on coa_port: a plan change then updates
    # sessions in place instead of disconnecting them.
    coa: bool = False

    @property
    def dynauth_secret(self) -> bytes:
        """The secret that signs Disconnect-Requests to this NAS."""
        return self.secret if self.coa_secret is None else self.coa_secret


def directory_key(user_name: str) -> str:
    """How a User-Name becomes a directory key: trimmed and case-folded, as the store keeps emails.

    Not ``store.customers.normalize_email``: that one also validates (an admin's
    input), this one only folds (a wire identity, looked up as it is).
    """
    return user_name.strip().lower()


# Members live in this many small dicts (by a hash of the key) instead of one big
# one: a dict of a million entries resizes, copies and frees in single C calls
# that hold the GIL for tens of milliseconds, and a full reload built in a worker
# thread must never stall the event loop that answers (docs/architecture.md,
# "A million members"). 256 keeps each below ~4,000 entries at a million.
SHARDS = 256
_MASK = SHARDS - 1


def _shards() -> list[dict]:
    return [{} for _ in range(SHARDS)]


class MemberTable:
    """A set of members, sharded by email and by id: built aside, then adopted whole.

    ``Members`` serves one; ``Members.replace_all`` (the snapshot file's view at
    start) fills a new one (``add``) and swaps it in (``Members.adopt``); an old
    one can be emptied shard by shard off the loop (``dispose``). A full load
    from the database changes the view in place instead (``Members.put``, ``sweep``).
    """

    __slots__ = ("by_email", "by_id", "count")

    def __init__(self) -> None:
        self.by_email: list[dict[str, Member]] = _shards()
        self.by_id: list[dict[int, Member]] = _shards()
        self.count = 0

    def add(self, member: Member) -> None:
        """Insert a member (a full load: ids and emails are unique, no replacing)."""
        by_id = self.by_id[member.id & _MASK]
        previous = by_id.get(member.id)
        if previous is not None:
            self.by_email[hash(previous.email) & _MASK].pop(previous.email, None)
        else:
            self.count += 1
        by_id[member.id] = member
        self.by_email[hash(member.email) & _MASK][member.email] = member

    def dispose(self, between: Callable[[], None] | None = None) -> None:
        """Empty the table one shard at a time, so freeing it never holds the GIL for long.

        ``between``: called after each shard (a worker thread sleeps, letting the loop in).
        """
        for shard in self.by_email:
            shard.clear()  # only references: the members still sit in by_id
        for shard in self.by_id:
            shard.clear()  # frees the members of this shard only
            if between is not None:
                between()
        self.count = 0


class SeenIds:
    """The ids a full reload met: one bit per id, ids above BITS_LIMIT in a set.

    Ids come from a sequence, so they are dense: a million members take about
    128 KiB here, where a set of their ids would take 32 MiB at the moment the
    reload's memory peaks.
    """

    __slots__ = ("_bits", "_others")

    BITS_LIMIT = 1 << 27  # 16 MiB of bits at most; sparser ids go to the set

    def __init__(self) -> None:
        self._bits = bytearray()
        self._others: set[int] = set()

    def add(self, member_id: int) -> None:
        """Note that ``member_id`` was seen."""
        if 0 <= member_id < self.BITS_LIMIT:
            byte = member_id >> 3
            bits = self._bits
            if byte >= len(bits):
                bits.extend(bytes(max(byte + 1, 2 * len(bits)) - len(bits)))
            bits[byte] |= 1 << (member_id & 7)
        else:
            self._others.add(member_id)

    def __contains__(self, member_id: int) -> bool:
        if 0 <= member_id < self.BITS_LIMIT:
            byte = member_id >> 3
            return byte < len(self._bits) and bool(self._bits[byte] & (1 << (member_id & 7)))
        return member_id in self._others


class Members:
    """Customers by normalised email and by id."""

    def __init__(self) -> None:
        self._by_email: list[dict[str, Member]] = _shards()
        self._by_id: list[dict[int, Member]] = _shards()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, user_name: str) -> Member | None:
        """The member whose email matches ``user_name`` (trimmed, any case)."""
        key = directory_key(user_name)
        return self._by_email[hash(key) & _MASK].get(key)

    def all(self) -> list[Member]:
        """Every member."""
        return [member for shard in self._by_id for member in shard.values()]

    def shards(self) -> list[dict[int, Member]]:
        """The id shards as they are now; copying each one is short (a snapshot in a thread)."""
        return list(self._by_id)

    def by_id(self, member_id: int) -> Member | None:
        """The member with this database id."""
        return self._by_id[member_id & _MASK].get(member_id)

    def put(self, member: Member) -> Member | None:
        """Insert or replace; return the previous version, if any."""
        by_id = self._by_id[member.id & _MASK]
        previous = by_id.get(member.id)
        if previous is None:
            self._count += 1
        elif previous.email != member.email:
            self._forget_email(previous)
        by_id[member.id] = member
        self._by_email[hash(member.email) & _MASK][member.email] = member
        return previous

    def _forget_email(self, member: Member) -> None:
        # Only while the email still names this member: applied one by one (a
        # reload, a batch), two members may trade emails or one may take over the
        # email of one removed later, and the newer owner's entry must stay.
        shard = self._by_email[hash(member.email) & _MASK]
        if shard.get(member.email) is member:
            del shard[member.email]

    def discard(self, member_id: int) -> Member | None:
        """Remove by id; return what was removed."""
        previous = self._by_id[member_id & _MASK].pop(member_id, None)
        if previous is not None:
            self._forget_email(previous)
            self._count -= 1
        return previous

    def sweep(self, keep: Callable[[int], bool], between: Callable[[], None] | None = None) -> int:
        """Discard every member whose id ``keep`` refuses, a shard at a time; how many.

        ``between``: called after each shard (a worker thread sleeps, letting the loop in).
        """
        removed = 0
        for shard in self._by_id:
            for member_id in [i for i in shard if not keep(i)]:
                self.discard(member_id)
                removed += 1
            if between is not None:
                between()
        return removed

    def adopt(self, table: MemberTable) -> MemberTable:
        """Serve ``table`` from now on; return the previous members as a table to dispose of.

        Three reference swaps: lookups on the loop see the old set or the new one, never a mix.
        """
        old = MemberTable()
        old.by_email, old.by_id, old.count = self._by_email, self._by_id, self._count
        self._by_email, self._by_id, self._count = table.by_email, table.by_id, table.count
        return old

    def replace_all(self, members: Iterable[Member]) -> None:
        """Swap in a complete new set (full reload)."""
        table = MemberTable()
        for member in members:
            table.add(member)
        self.adopt(table)


class Clients:
    """RADIUS clients matched by source address, the most specific network winning."""

    def __init__(self) -> None:
        self._by_id: dict[int, Client] = {}
        self._ordered: list[Client] = []
        # Source address -> client (or None): the first packet from an address
        # pays for the scan, later ones are one dict read. Cleared on change.
        self._cache: dict[str, Client | None] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def _rebuild(self) -> None:
        self._ordered = sorted(self._by_id.values(), key=lambda c: -c.network.prefixlen)
        self._cache = {}

    def put(self, client: Client) -> None:
        """Insert or replace a client."""
        self._by_id[client.id] = client
        self._rebuild()

    def discard(self, client_id: int) -> None:
        """Remove a client by id."""
        if self._by_id.pop(client_id, None) is not None:
            self._rebuild()

    def replace_all(self, clients: Iterable[Client]) -> None:
        """Swap in a complete new set."""
        self._by_id = {c.id: c for c in clients}
        self._rebuild()

    def all(self) -> list[Client]:
        """Every client, most specific first."""
        return list(self._ordered)

    def by_name(self, name: str) -> Client | None:
        """The client with this name (a session names its NAS so), if any; a scan: not hot."""
        return next((c for c in self._by_id.values() if c.name == name), None)

    def match(self, source: str) -> Client | None:
        """The client for a source address (IPv4-mapped IPv6 counts as IPv4)."""
        try:
            return self._cache[source]
        except KeyError:
            pass
        found = None
        try:
            address: IPAddress = ipaddress.ip_address(source.split("%", 1)[0])
        except ValueError:
            address = None  # type: ignore[assignment]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is not None:
            for client in self._ordered:
                if address.version == client.network.version and address in client.network:
                    found = client
                    break
        if len(self._cache) > 65536:
            # Spoofed floods from many addresses must not grow memory without bound.
            self._cache.clear()
        self._cache[source] = found
        return found


class Directory:
    """Everything the engine reads: members, clients, plans, locations, and whether it is usable."""

    def __init__(self) -> None:
        self.members = Members()
        self.clients = Clients()
        self.plans = Plans()
        self.locations: dict[int, Location] = {}
        # False until the first full load succeeds: before that we know no one.
        self.ready = False
        # True while the database is unreachable and we serve the last good view.
        self.degraded = False
