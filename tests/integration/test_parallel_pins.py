"""The "done when" proof: customers created from many processes at once never share a PIN.

Each worker is a separate OS process (``python -c``) that connects, signals it is
ready, waits for a common start file, then creates its customers through
CustomerRepository.add. Uniqueness must hold because the database enforces it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from radius_server.rules import pins
from radius_server.store import database
from radius_server.store.models import AuditEvent, Change, Customer

WORKER = r"""
import json, secrets, sys, time
from pathlib import Path

url, index, count, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
signals = Path(sys.argv[5])

from radius_server.rules import pins
from radius_server.store import database
from radius_server.store.customers import CustomerRepository

draws = 0
real_draw = pins.draw_pin

def counting_draw(used):
    # Optionally draw only among the first `window` codes, to force collisions.
    global draws
    draws += 1
    if not window:
        return real_draw(used)
    free = [p for p in pins.drawable()[:window] if p not in used]
    if not free:
        raise pins.PinSpaceExhausted("test window full")
    return secrets.choice(free)

pins.draw_pin = counting_draw
engine = database.make_engine(url)
repo = CustomerRepository(database.make_session_factory(engine), actor=f"worker-{index}")
with engine.connect():
    pass
(signals / f"ready-{index}").touch()
deadline = time.monotonic() + 120
while not (signals / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("worker never got the start signal")
    time.sleep(0.001)
created = [repo.add(f"w{index}-c{i}@example.com", f"Worker {index} #{i}").pin
           for i in range(count)]
engine.dispose()
print(json.dumps({"pins": created, "draws": draws}))
"""


@dataclass
class Outcome:
    """What the workers reported."""

    pins: list[str]
    draws: int


def run_workers(
    url: str, workers: int, per_worker: int, tmp_path: Path, window: int = 0
) -> Outcome:
    """Start ``workers`` processes, release them together, and collect their PINs."""
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(i), str(per_worker), str(window), str(signals)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(workers)
    ]
    try:
        # Barrier: every worker imported, connected and waiting before any starts.
        deadline = time.monotonic() + 120
        while len(list(signals.glob("ready-*"))) < workers:
            for proc in procs:
                if proc.poll() is not None:
                    pytest.fail(f"a worker exited before the start: {proc.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail("workers did not get ready")
            time.sleep(0.01)
        (signals / "go").touch()
        outcome = Outcome([], 0)
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
            report = json.loads(out)
            assert len(report["pins"]) == per_worker
            outcome.pins.extend(report["pins"])
            outcome.draws += report["draws"]
        return outcome
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def migrated_engine(url: str) -> Engine:
    """Migrate a fresh database and return an engine on it."""
    engine = database.make_engine(url)
    database.upgrade(engine)
    return engine


def check_database(engine: Engine, expected: list[str], *, window: int = 0) -> None:
    """The table holds exactly the PINs the workers got: all distinct, all valid."""
    with engine.connect() as conn:
        stored = list(conn.execute(select(Customer.pin)).scalars())
        emails = conn.execute(select(func.count(func.distinct(Customer.email)))).scalar_one()
        feed = conn.execute(select(func.count(Change.seq))).scalar_one()
        audit = conn.execute(select(func.count(AuditEvent.id))).scalar_one()
    assert len(stored) == len(expected)
    assert emails == len(expected)
    assert len(set(stored)) == len(stored), "two customers share a PIN"
    assert sorted(stored) == sorted(expected)
    assert len(set(expected)) == len(expected), "two workers were handed the same PIN"
    for pin in stored:
        assert pins.is_valid_format(pin) and not pins.is_trivial(pin)
    if window:
        assert set(stored) <= set(pins.drawable()[:window])
    assert feed == len(expected)
    assert audit == len(expected)


def test_1000_customers_from_8_processes_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """8 processes x 125 customers at the same moment: 1,000 customers, 1,000 distinct PINs."""
    engine = migrated_engine(pg_url)
    try:
        outcome = run_workers(pg_url, workers=8, per_worker=125, tmp_path=tmp_path)
        assert len(outcome.pins) == 1000
        assert outcome.draws >= 1000
        check_database(engine, outcome.pins)
    finally:
        engine.dispose()


def test_forced_collisions_are_retried_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Workers drawing from only 210 codes collide now and then; all adds succeed, uniquely."""
    engine = migrated_engine(pg_url)
    try:
        outcome = run_workers(pg_url, workers=4, per_worker=50, tmp_path=tmp_path, window=210)
        assert len(outcome.pins) == 200
        check_database(engine, outcome.pins, window=210)
    finally:
        engine.dispose()


@pytest.mark.parametrize("window", [0, 210], ids=["full-space", "forced-collisions"])
def test_parallel_creation_on_sqlite(sqlite_url: str, tmp_path: Path, window: int) -> None:
    """4 processes x 50 customers on one SQLite file: 200 customers, 200 distinct PINs."""
    engine = migrated_engine(sqlite_url)
    try:
        outcome = run_workers(
            sqlite_url, workers=4, per_worker=50, tmp_path=tmp_path, window=window
        )
        assert len(outcome.pins) == 200
        check_database(engine, outcome.pins, window=window)
    finally:
        engine.dispose()
