"""Guessing protection against hostile input and curious readers, on real databases.

- A wire identity with a NUL byte (refused by PostgreSQL in a text column)
  must not stop sharing: later failures still reach other instances, a
  restart still sees them, and ``lockout clear`` still works.
- A reader of any table other than ``customers`` learns nothing about a PIN.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path

from sqlalchemy import inspect, text

from radius_server.eap.codec import EapType
from radius_server.rules.throttle import EventKind, ThrottleEvent, ThrottleSettings
from radius_server.runtime.guard import Guard
from radius_server.store import database
from radius_server.store.customers import CustomerRepository
from radius_server.store.throttle_log import ThrottleLog
from tests.conftest import Cli
from tests.unit.eap_peer import Peer, certs, converse, eap_engine  # noqa: F401
from tests.unit.eap_support import EMAIL
from tests.unit.engine_harness import Harness, RecordingLog

KEY = b"a shared key of at least 32 characters"
SETTINGS = ThrottleSettings(user_budget=3)


def _sessions(url: str):  # type: ignore[no-untyped-def]
    engine = database.make_engine(url)
    database.upgrade(engine)
    return engine, database.make_session_factory(engine)


def _exchange(guard: Guard) -> None:
    asyncio.run(guard.exchange_once())


def test_nul_in_a_peap_identity_does_not_stop_sharing(pg_url: str, tmp_path: Path, certs) -> None:  # noqa: F811
    """Issue 10, finding 1, reproduced through the engine and the guard on PostgreSQL."""
    db, sessions = _sessions(pg_url)
    try:
        engine, log, _handler = eap_engine(certs)
        a = Guard(SETTINGS, log, ThrottleLog(sessions, "a"), key=KEY)
        engine.guard = a
        b_log = RecordingLog()
        b = Guard(SETTINGS, b_log, ThrottleLog(sessions, "b"), key=KEY)
        hostile = EMAIL[:3] + "\x00" + EMAIL[3:]
        peer = Peer(EapType.PEAP, identity=hostile, pin=b"00000", ca_file=certs.ca_cert)
        assert converse(engine, peer).reply.code == 3  # Access-Reject
        _exchange(a)
        assert not a.degraded and not a.outbox.pending
        # One event the database refuses anyway (written around the guard's checks)
        # is dropped and reported; the events around it are written.
        a.outbox.push(ThrottleEvent(EventKind.FAILURE, 1.8e9, "bad\x00user", "x"))
        for wrong in (b"11111", b"22222"):
            converse(engine, Peer(EapType.PEAP, pin=wrong, ca_file=certs.ca_cert))
        _exchange(a)
        assert not a.degraded and not a.outbox.pending
        assert [e["reason"] for e in log.named("throttle_event_rejected")] == ["DataError"]
        with db.connect() as conn:
            users = conn.execute(text("SELECT user_key FROM throttle_events")).scalars().all()
        assert users == [EMAIL] * 3
        # Shared: instance B sees three failures and locks the email for unknown devices.
        _exchange(b)
        assert b.gate(EMAIL, "02:00:00:00:00:99", _now()) is not None
        # A restart replays them.
        restarted = Guard(SETTINGS, RecordingLog(), ThrottleLog(sessions, "c"), key=KEY)
        restarted.load()
        assert restarted.gate(EMAIL, "02:00:00:00:00:99", _now()) is not None
        # And the admin's clear reaches both.
        assert Cli(pg_url, tmp_path)("lockout", "clear", EMAIL).code == 0
        _exchange(a)
        _exchange(b)
        assert a.gate(EMAIL, "02:00:00:00:00:99", _now()) is None
        assert b.gate(EMAIL, "02:00:00:00:00:99", _now()) is None
        assert b_log.named("lockout_cleared")
        fresh = Peer(EapType.PEAP, station="02-00-00-00-00-77", ca_file=certs.ca_cert)
        assert converse(engine, fresh).reply.code == 2  # Access-Accept
    finally:
        db.dispose()


def _now() -> float:
    """Wall-clock now (the guard's events are stamped with it)."""
    return time.time()


def _plain_fingerprint(user: str, pin: bytes) -> bytes:
    """The construction used before: a plain hash anyone can recompute."""
    return hashlib.sha256(b"radius-server-guess\x00" + user.encode() + b"\x00" + pin).digest()[:8]


def test_no_table_but_customers_reveals_a_pin(db_url: str) -> None:
    """Wrong PINs (typos of the right one) cannot be recovered from the event log."""
    db, sessions = _sessions(db_url)
    try:
        h = Harness(settings=ThrottleSettings())
        h.guard = Guard(ThrottleSettings(), h.log, ThrottleLog(sessions, "a"), key=KEY)
        h.engine.guard = h.guard
        # Admin work writes the audit trail and the change feed too.
        customers = CustomerRepository(sessions, actor="test")
        customers.add("ana@example.com", pin="37195")
        customers.set_pin("ana@example.com", "48213")
        h.add_member("ana@example.com", "48213", previous_pin="37195")
        typos = ["48212", "42813", "48213"[:4] + "9"]
        for typo in typos:
            assert h.send("ana@example.com", typo, "02-00-00-00-00-01")[1]["reason"] == "wrong_pin"
        _exchange(h.guard)
        dump: list[str] = []
        with db.connect() as conn:
            for table in inspect(conn).get_table_names():
                if table != "customers":
                    # Table names come from the database itself, not from input.
                    for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                        dump += [str(value) for value in row]
            marks = conn.execute(
                text("SELECT fingerprint FROM throttle_events WHERE fingerprint IS NOT NULL")
            ).scalars()
            stored = {bytes.fromhex(m) for m in marks}
        assert len(stored) == len(typos)
        everything = " ".join(dump)
        # Whole digit runs only: a timestamp's microseconds may hold any five digits.
        numbers = set(re.findall(r"[0-9]+", everything))
        assert numbers.isdisjoint(["48213", "37195", *typos])
        assert KEY.decode() not in everything and KEY.hex() not in everything
        # Trying all 100,000 codes, as a reader could, recovers none of them.
        found = {
            f"{n:05d}"
            for n in range(100_000)
            if _plain_fingerprint("ana@example.com", f"{n:05d}".encode()) in stored
        }
        assert found == set()
    finally:
        db.dispose()


def test_instances_with_different_keys_are_reported(sqlite_url: str) -> None:
    """A key mismatch is logged (once), and the other's failures still count."""
    db, sessions = _sessions(sqlite_url)
    try:
        a = Guard(SETTINGS, RecordingLog(), ThrottleLog(sessions, "a"), key=KEY)
        b_log = RecordingLog()
        other_key = b"another key, 32 characters long!"
        b = Guard(SETTINGS, b_log, ThrottleLog(sessions, "b"), key=other_key)
        now = _now()
        for pin in (b"11111", b"22222", b"33333"):
            a.failed("ana@example.com", None, a.fingerprint("ana@example.com", pin), now)
        _exchange(a)
        _exchange(b)
        mismatches = b_log.named("throttle_key_mismatch")
        assert len(mismatches) == 1 and mismatches[0]["theirs"] == a.key_id
        assert b.gate("ana@example.com", None, now) is not None
    finally:
        db.dispose()
