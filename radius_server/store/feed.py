"""Reads for a running server: a full snapshot, then the change feed since a sequence."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.feed_cursor import RECENT_WINDOW
from radius_server.store import clients as client_repo
from radius_server.store import customers as customer_repo
from radius_server.store import journal
from radius_server.store import plans as plan_repo
from radius_server.store.models import Change, Customer, RadiusClient
from radius_server.store.records import ClientRecord, CustomerRecord, LocationRecord, PlanRecord
from radius_server.store.watchdog import guard_driver


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything, plus the feed position it is at least as new as."""

    customers: list[CustomerRecord]
    clients: list[ClientRecord]
    last_seq: int
    # Sequences visible among the most recent ones (see FeedCursor.reset).
    recent_seqs: tuple[int, ...] = ()
    plans: list[PlanRecord] = field(default_factory=list)
    locations: list[LocationRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Feed entries after a position, and the current state of what they name."""

    seqs: list[int]
    customers: dict[int, CustomerRecord | None]  # None: removed
    clients: dict[int, ClientRecord | None]
    oldest_seq: int | None  # oldest entry still in the feed (pruning check)
    # Every plan and location, when the entries name one of them (None: unchanged).
    plans: list[PlanRecord] | None = None
    locations: list[LocationRecord] | None = None


@dataclass(frozen=True, slots=True)
class SnapshotHead:
    """A full load's first part: the feed position, then everything but the customers.

    The customers follow page by page (``ChangeFeed.member_page``), so a million
    of them never sit in memory twice, and each page is one short statement
    under the round-trip deadline.
    """

    last_seq: int
    recent_seqs: tuple[int, ...]
    clients: list[ClientRecord]
    plans: list[PlanRecord]
    locations: list[LocationRecord]


# What the directory needs of a customer, in this order (``member_page`` rows).
MEMBER_COLUMNS = (
    Customer.id,
    Customer.email,
    Customer.pin,
    Customer.active,
    Customer.wifi_access,
    Customer.valid_from,
    Customer.valid_until,
    Customer.pin_changed_at,
    Customer.previous_pin,
    Customer.device_limit,
    Customer.plan_id,
)
# A page is converted while holding the GIL: small pages keep the loop's waits short.
MEMBER_PAGE = 2000
# Rows built from a page's result per call (psycopg): about 0.2 ms holding the GIL.
FETCH_ROWS = 200


class ChangeFeed:
    """Database side of the directory sync. Every method is one short transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def snapshot(self) -> Snapshot:
        """Load all customers and clients.

        The feed position is read first: a change committed while we load is
        then seen again by the next poll, and applying it twice is harmless. The
        recent sequences tell which ones below the position were not visible yet
        (a transaction still committing): the cursor keeps waiting for those.
        """
        with self._sessions() as session:
            last = session.scalar(select(func.max(Change.seq))) or 0
            recent = session.scalars(select(Change.seq).where(Change.seq > last - RECENT_WINDOW))
            seen = tuple(recent)
            customers = [customer_repo.to_record(r) for r in session.scalars(select(Customer))]
            clients = [client_repo.to_record(r) for r in session.scalars(select(RadiusClient))]
            plans = plan_repo.load_plans(session)
            locations = plan_repo.load_locations(session)
            return Snapshot(customers, clients, last, seen, plans, locations)

    def head(self) -> SnapshotHead:
        """The feed position (read first, as in ``snapshot``), clients, plans and locations."""
        with self._sessions() as session:
            last = session.scalar(select(func.max(Change.seq))) or 0
            recent = session.scalars(select(Change.seq).where(Change.seq > last - RECENT_WINDOW))
            seen = tuple(recent)
            clients = [client_repo.to_record(r) for r in session.scalars(select(RadiusClient))]
            plans = plan_repo.load_plans(session)
            locations = plan_repo.load_locations(session)
            return SnapshotHead(last, seen, clients, plans, locations)

    def member_page(self, after_id: int, limit: int = MEMBER_PAGE) -> list[Any]:
        """Customers above ``after_id`` by id, at most ``limit``: ``MEMBER_COLUMNS`` rows.

        Keyset pages, each its own statement: under READ COMMITTED a page may be
        newer than the feed position read first, which is harmless for the same
        reason as in ``snapshot`` (the next poll applies those changes again).
        Core rows of the needed columns only: no ORM objects, no datetimes left
        to convert but the three the directory keeps.
        """
        statement = (
            select(*MEMBER_COLUMNS).where(Customer.id > after_id).order_by(Customer.id).limit(limit)
        )
        with self._sessions() as session:
            conn = session.connection()
            if conn.dialect.name != "postgresql":
                return list(conn.execute(statement))
            # psycopg's own tuples: SQLAlchemy's Row per row was two thirds of the
            # fetch's CPU (0.43 s of 0.56 s per 100,000 rows). The same transaction
            # and connection, under the same watchdog as any round trip.
            compiled = statement.compile(dialect=conn.dialect)
            raw = conn.connection.driver_connection
            cursor = raw.cursor()  # type: ignore[union-attr]

            def run() -> list[Any]:
                cursor.execute(compiled.string, dict(compiled.params))
                # Rows are made from the result in slices: fetchall() builds a whole
                # page in one C call holding the GIL (2-3 ms for 2,000 rows on the
                # bench machine), a pause for the event loop answering meanwhile.
                rows: list[Any] = []
                while chunk := cursor.fetchmany(FETCH_ROWS):
                    rows += chunk
                return rows

            try:
                return guard_driver(conn, raw, run)
            finally:
                cursor.close()

    def changes_after(
        self, seq: int, holes: Collection[int] = (), limit: int = 5000
    ) -> ChangeBatch:
        """Feed entries above ``seq`` or in ``holes``, and the rows they name.

        Only entries not applied yet: re-reading everything above the oldest hole
        would re-apply (and log) every change behind a gap on each poll until the
        gap expires, and a crash of PostgreSQL leaves such a gap (its sequences
        jump ahead by up to 32 values).
        """
        entry = select(Change.seq, Change.entity, Change.entity_id).order_by(Change.seq)
        with self._sessions() as session:
            rows = list(session.execute(entry.where(Change.seq > seq).limit(limit)))
            if holes:
                # Few holes: name them; many (a crash burns up to 32 values of a
                # sequence): their range, filtered here, keeps the statement small.
                near = (
                    Change.seq.in_(list(holes))
                    if len(holes) <= 200
                    else Change.seq.between(min(holes), max(holes))
                )
                rows[:0] = [r for r in session.execute(entry.where(near)) if r.seq in holes]
            oldest = session.scalar(select(func.min(Change.seq)))
            customer_ids = {r.entity_id for r in rows if r.entity == "customer"}
            client_ids = {r.entity_id for r in rows if r.entity == "client"}
            # Plans and locations are few: any change to one reloads them all.
            reload_plans = any(r.entity in (journal.PLAN, journal.LOCATION) for r in rows)
            return ChangeBatch(
                seqs=[r.seq for r in rows],
                customers=self._load(session, Customer, customer_ids, customer_repo.to_record),
                clients=self._load(session, RadiusClient, client_ids, client_repo.to_record),
                oldest_seq=oldest,
                plans=plan_repo.load_plans(session) if reload_plans else None,
                locations=plan_repo.load_locations(session) if reload_plans else None,
            )

    @staticmethod
    def _load(session: Session, model: type, ids: Collection[int], convert) -> dict:  # type: ignore[no-untyped-def]
        found: dict = {i: None for i in ids}
        if ids:
            for row in session.scalars(select(model).where(model.id.in_(ids))):
                found[row.id] = convert(row)
        return found

    def prune(self, before: datetime) -> int:
        """Delete feed entries older than ``before``; servers that far behind reload fully."""
        with self._sessions() as session:
            newest = session.scalar(select(func.max(Change.seq))) or 0
            # Keep the newest entry whatever its age: it marks the feed position.
            result = session.execute(delete(Change).where(Change.at < before, Change.seq < newest))
            session.commit()
            return int(result.rowcount or 0)
