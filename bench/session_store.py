"""Throughput of ``SessionStore.write``: accounting records per second, batches of 1000.

Writes through one connection, as the accounting writer does (one group-committed
transaction per batch), on PostgreSQL (a throw-away database on 127.0.0.1:5432,
dropped afterwards) and on SQLite (a temp file). Scenarios, each over ``--batches``
batches of ``--batch`` records:

- ``start``: every record a Start of a new session (inserts; Starts also look for
  the station's older sessions to close);
- ``interim``: Interim-Updates of open sessions, counters growing (updates);
- ``mixed``: 10% Start, 80% Interim-Update, 10% Stop, with a few retransmissions;
- ``replay``: the ``mixed`` batches again (a spool replay: nothing changes).

    .venv/bin/python bench/session_store.py [--batches 30] [--batch 1000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from radius_server.rules.accounting import AccountingRecord, StatusType, unique_session_key
from radius_server.store import database
from radius_server.store.sessions import SessionStore

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = 1_800_000_000.0


def record(status: StatusType, n: int, at: float, step: int = 0) -> AccountingRecord:
    """A record of session ``n`` (on one of 50 access points), ``step`` interims in."""
    client = f"ap{n % 50}"
    session_id = f"{n:08X}"
    return AccountingRecord(
        status=status,
        unique_key=unique_session_key(client, "10.0.0.1", None, n % 4096, session_id),
        client_name=client,
        nas_address="10.0.0.1",
        acct_session_id=session_id,
        user_name=f"member{n % 5000}@bench.test",
        event_time=at,
        received_at=at,
        nas_ip_address="10.0.0.1",
        nas_port=n % 4096,
        member_email=f"member{n % 5000}@bench.test",
        customer_id=n % 5000,
        calling_station_id="02:00:" + ":".join(f"{n >> s & 255:02x}" for s in (24, 16, 8, 0)),
        called_station_id="aa-bb-cc-dd-ee-ff:Cowork",
        framed_ip_address=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
        class_hex="72733a31",
        session_time=600 * step if status is not StatusType.START else None,
        input_octets=1_000_000 * step if status is not StatusType.START else None,
        output_octets=5_000_000 * step if status is not StatusType.START else None,
        input_packets=1000 * step if status is not StatusType.START else None,
        output_packets=4000 * step if status is not StatusType.START else None,
        terminate_cause="User-Request" if status is StatusType.STOP else None,
    )


def scenarios(batches: int, size: int) -> dict[str, list[list[AccountingRecord]]]:
    """The batches of each scenario (built before timing)."""
    rng = random.Random(12)
    starts = [
        [record(StatusType.START, b * size + i, T0 + b) for i in range(size)]
        for b in range(batches)
    ]
    opened = batches * size
    interims = [
        [
            record(StatusType.INTERIM_UPDATE, rng.randrange(opened), T0 + 600 + b, b + 1)
            for _ in range(size)
        ]
        for b in range(batches)
    ]
    mixed = []
    next_new = opened
    for b in range(batches):
        at = T0 + 1200 + b
        out = []
        while len(out) < size:
            roll = rng.random()
            if roll < 0.1:
                out.append(record(StatusType.START, next_new, at))
                next_new += 1
            elif roll < 0.9:
                out.append(
                    record(StatusType.INTERIM_UPDATE, rng.randrange(next_new), at, batches + b)
                )
            else:
                out.append(record(StatusType.STOP, rng.randrange(next_new), at, batches + b))
            if rng.random() < 0.02:  # a retransmission within the batch
                out.append(out[-1])
        mixed.append(out[:size])
    return {"start": starts, "interim": interims, "mixed": mixed, "replay": mixed}


@contextmanager
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database."""
    import psycopg

    name = f"bench_sessions_{secrets.token_hex(4)}"
    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_url() -> Iterator[str]:
    """A throw-away SQLite file."""
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'radius.db'}"


def run(url: str, plan: dict[str, list[list[AccountingRecord]]]) -> dict[str, tuple[float, float]]:
    """records/s per scenario: (overall, median batch)."""
    engine = (
        database.make_engine(url, pool_size=1, max_overflow=0)
        if "postgresql" in url
        else database.make_engine(url)
    )
    # As serve's accounting writer (runtime/server.py).
    database.temp_files_in_memory(engine)
    try:
        database.upgrade(engine)
        store = SessionStore(database.make_session_factory(engine))
        store.write(plan["start"][0][:10], now=T0)  # warm: connection, compiled statements
        results = {}
        for name, batches in plan.items():
            times = []
            for batch in batches:
                began = time.perf_counter()
                store.write(batch, now=T0 + 5000)
                times.append(time.perf_counter() - began)
            count = sum(len(b) for b in batches)
            results[name] = (count / sum(times), len(batches[0]) / statistics.median(times))
        return results
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args(argv)
    plan = scenarios(args.batches, args.batch)
    backends: dict[str, Callable[[], object]] = {"postgresql": postgres_url, "sqlite": sqlite_url}
    print(f"batches of {args.batch} records, {args.batches} batches per scenario, one connection")
    print(f"{'back end':<12}{'scenario':<10}{'records/s':>12}{'median batch':>16}")
    for name, make in backends.items():
        if args.only and name not in args.only:
            continue
        with make() as url:  # type: ignore[attr-defined]
            for scenario, (overall, median) in run(url, plan).items():
                print(f"{name:<12}{scenario:<10}{overall:>12,.0f}{median:>13,.0f} r/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
