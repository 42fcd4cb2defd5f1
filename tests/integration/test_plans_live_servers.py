"""Issue 13 "Live": a plan edited or reassigned applies to the next sign-in on every server.

Two ``radius-server serve`` processes on one PostgreSQL database, as two instances of a
deployment. The admin changes a member's plan with the CLI; both servers are probed
with Debian's radclient (PAP) until the Access-Accept carries the new plan's
Filter-Id. The delay from the command's return to the first such Accept is printed
(the issue asks for well under a second; a test never asserts a time, so it only has
to happen before a generous deadline). Needs freeradius-utils and PostgreSQL: under
CI=true a missing one fails.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.integration.radclient_auth import radclient_auth
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.udp_client import SECRET, prepare_site

pytestmark = pytest.mark.tools

EMAIL = "ana@example.com"
# Far above what the issue asks (a second): only a server that never catches up fails.
DEADLINE_SECONDS = 15.0
FILTER_ID = re.compile(r'^\s*Filter-Id = "([^"]*)"', re.MULTILINE)


def _timing(step: str, seconds: float) -> None:
    # Shown with pytest -s; never asserted.
    print(f"[plans-live timing] {step}: {seconds:.3f} s")


def filter_id(server: ServerProcess, pin: str) -> str | None:
    """One PAP sign-in with radclient: the Accept's Filter-Id (None: no Accept, or none)."""
    done = radclient_auth(
        server.auth_port,
        SECRET,
        f'User-Name = "{EMAIL}", User-Password = "{pin}"',
        retries=1,
        timeout=1,
    )
    if "Received Access-Accept" not in done.stdout:
        return None
    found = FILTER_ID.search(done.stdout)
    return found.group(1) if found else None


def seconds_until(running: list[ServerProcess], pin: str, wanted: str, since: float) -> list[float]:
    """Probe every server in turn until each Accept carries Filter-Id ``wanted``.

    Returns, per server, the seconds from ``since`` to its first such Accept.
    """
    reached: dict[int, float] = {}
    while len(reached) < len(running):
        for index, server in enumerate(running):
            if index not in reached and filter_id(server, pin) == wanted:
                reached[index] = time.monotonic() - since
        waited = time.monotonic() - since
        assert waited < DEADLINE_SECONDS, f"servers {sorted(reached)} of {len(running)} saw it"
        time.sleep(0.01)
    return [reached[index] for index in range(len(running))]


@pytest.fixture
def servers(pg_url: str, tmp_path: Path) -> Iterator[tuple[Cli, str, list[ServerProcess]]]:
    """The CLI, Ana's PIN, and two servers on the same database; Ana on plan "desk" (her
    Accept carries its Filter-Id on both)."""
    cli = Cli(pg_url, tmp_path)
    pin = prepare_site(cli)
    for name in ("desk", "guest"):
        done = cli("plan", "add", name, "--reply", f"Filter-Id = {name}-members")
        assert done.code == 0, done.err
    done = cli("customer", "update", EMAIL, "--plan", "desk")
    assert done.code == 0, done.err
    with ExitStack() as stack:
        running = [
            stack.enter_context(running_server(pg_url, tmp_path / name)) for name in ("a", "b")
        ]
        for server in running:
            assert filter_id(server, pin) == "desk-members"
        yield cli, pin, running


def test_reassigned_plan_reaches_both_servers(
    servers: tuple[Cli, str, list[ServerProcess]],
) -> None:
    cli, pin, running = servers
    done = cli("customer", "update", EMAIL, "--plan", "guest")
    assert done.code == 0, done.err
    changed = time.monotonic()
    delays = seconds_until(running, pin, "guest-members", changed)
    for index, server in enumerate(running):
        _timing(f"reassigned, server {index + 1}", delays[index])
        # The access line names the plan the Accept came from.
        line = server.wait_for("access", outcome="accept", user=EMAIL, plan="guest")
        assert line["plan"] == "guest"


def test_edited_plan_reaches_both_servers(
    servers: tuple[Cli, str, list[ServerProcess]],
) -> None:
    cli, pin, running = servers
    done = cli("plan", "update", "desk", "--reply", "Filter-Id = desk-v2")
    assert done.code == 0, done.err
    changed = time.monotonic()
    for index, delay in enumerate(seconds_until(running, pin, "desk-v2", changed)):
        _timing(f"edited, server {index + 1}", delay)
