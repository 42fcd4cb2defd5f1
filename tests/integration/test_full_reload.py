"""A full reload after an outage, under a steady stream of requests, on a private cluster.

The reload reads the customers page by page in a worker thread and applies them
to the live view member by member (docs/architecture.md, "A million members"):
every request sent meanwhile is answered, and answered right, from each member's
old state or new one.
Never the shared server on 5432: see tests/integration/pg_cluster.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from radius_server.protocol import codes as c
from radius_server.store import database
from radius_server.store.feed import MEMBER_PAGE
from tests.conftest import Cli
from tests.integration.pg_cluster import PgCluster, pg_cluster_fixture  # noqa: F401
from tests.integration.server_process import running_server
from tests.integration.udp_client import ask, prepare_site

BULK = 5 * MEMBER_PAGE + 17  # several pages, the last one partial


class MixedLoad(threading.Thread):
    """Requests cycling through (email, PIN, expected code); every answer kept."""

    def __init__(self, port: int, mix: list[tuple[str, str, int]], pause: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.port, self.mix, self.pause = port, mix, pause
        self.answers: list[tuple[str, int, int | None]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            email, pin, expected = self.mix[turn % len(self.mix)]
            turn += 1
            self.answers.append((email, expected, ask(self.port, email, pin)))
            time.sleep(self.pause)

    def finish(self) -> list[tuple[str, int, int | None]]:
        self.stopping.set()
        self.join(timeout=10)
        return list(self.answers)


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _bulk_pin(number: int, taken: str) -> str:
    pin = f"{number:05d}"
    return "99999" if pin == taken else pin


def test_full_reload_under_steady_requests_answers_every_one_right(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """Outage, recovery, full reload of several pages: no request lost, none answered wrong.

    A member disabled behind the server's back (no change feed entry) before the
    outage is still accepted until the reload and refused after it: the reload
    really replaced the view.
    """
    cli = Cli(pg_cluster.url, tmp_path)
    ana_pin = prepare_site(cli)
    engine = database.make_engine(pg_cluster.url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (email, full_name, pin, active, wifi_access) "
                "SELECT 'bulk' || g || '@example.com', '', "
                "CASE WHEN lpad(g::text, 5, '0') = :taken THEN '99999' "
                "ELSE lpad(g::text, 5, '0') END, true, true "
                "FROM generate_series(1, :n) AS g"
            ),
            {"taken": ana_pin, "n": BULK},
        )
    engine.dispose()
    accept, reject = c.Code.ACCESS_ACCEPT, c.Code.ACCESS_REJECT
    mix = [
        ("ana@example.com", ana_pin, accept),
        ("bulk1@example.com", _bulk_pin(1, ana_pin), accept),
        (f"bulk{BULK}@example.com", _bulk_pin(BULK, ana_pin), accept),
        ("BULK4321@Example.com", _bulk_pin(4321, ana_pin), accept),
        ("bulk2@example.com", "00000" if _bulk_pin(2, ana_pin) != "00000" else "11111", reject),
        ("nobody@example.com", "12345", reject),
    ]
    hidden = "bulk7@example.com"
    hidden_pin = _bulk_pin(7, ana_pin)
    with running_server(
        pg_cluster.url, tmp_path / "data", RADIUS_THROTTLE_ENABLED="false"
    ) as server:
        loaded = server.wait_for("directory_loaded", timeout=60, source="database")
        assert loaded["customers"] == BULK + 1
        assert ask(server.auth_port, hidden, hidden_pin) == accept
        engine = database.make_engine(pg_cluster.url)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE customers SET active = false WHERE email = :e"), {"e": hidden}
            )
        engine.dispose()
        time.sleep(1.0)  # several polls: the feed says nothing, so the view keeps it
        assert ask(server.auth_port, hidden, hidden_pin) == accept
        load = MixedLoad(server.auth_port, mix)
        load.start()
        time.sleep(0.5)
        mark = server.mark()
        pg_cluster.stop()
        server.wait_for("directory_degraded", timeout=30, since=mark)
        time.sleep(0.5)
        pg_cluster.start()
        server.wait_for("directory_recovered", timeout=30, since=mark)
        reloaded = server.wait_for("directory_loaded", timeout=60, since=mark, source="database")
        time.sleep(0.5)
        answers = load.finish()
        assert ask(server.auth_port, hidden, hidden_pin) == reject
    assert reloaded["customers"] == BULK + 1
    assert len(answers) > 50
    lost = [email for email, _, got in answers if got is None]
    wrong = [(email, want, got) for email, want, got in answers if got is not None and got != want]
    assert lost == [] and wrong == []
