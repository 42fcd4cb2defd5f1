"""``radius-server device add|list|remove``: staff make a newcomer's device known."""

from __future__ import annotations

import json
import time

from radius_server.rules.throttle import ThrottleSettings
from radius_server.runtime.guard import Guard
from radius_server.store import database
from radius_server.store.throttle_log import ThrottleLog
from tests.conftest import Cli
from tests.unit.engine_harness import RecordingLog

MAC = "02-00-5E-10-20-30"
DEVICE = "02:00:5e:10:20:30"


def _server_view(url: str) -> Guard:
    """What a starting server knows, after replaying the shared log."""
    engine = database.make_engine(url)
    try:
        guard = Guard(
            ThrottleSettings(location_budget=1),
            RecordingLog(),
            ThrottleLog(database.make_session_factory(engine), "srv"),
        )
        guard.load()
        return guard
    finally:
        engine.dispose()


def test_device_add_list_remove(sqlite_cli: Cli, sqlite_url: str) -> None:
    """A registered device is known on every server; removed, it is unknown again."""
    assert sqlite_cli("customer", "add", "ana@example.com").code == 0
    added = sqlite_cli("device", "add", "Ana@Example.com", MAC)
    assert added.code == 0, added.err
    listed = json.loads(sqlite_cli("--json", "device", "list", "ana@example.com").out)
    assert [(d["email"], d["device"]) for d in listed["devices"]] == [("ana@example.com", DEVICE)]
    now = time.time()
    guard = _server_view(sqlite_url)
    assert guard.throttle.is_known("ana@example.com", DEVICE, now)
    # Known devices are not held by a location in defensive mode.
    guard.failed("x@example.com", "02:00:00:00:00:01", None, now, "lobby")
    assert guard.gate("ana@example.com", DEVICE, now, "lobby") is None
    assert guard.gate("ana@example.com", "02:00:00:00:00:02", now, "lobby") is not None
    history = sqlite_cli("--json", "customer", "history", "ana@example.com").out
    assert "device.add" in history
    assert sqlite_cli("device", "remove", "ana@example.com", MAC.lower()).code == 0
    assert not _server_view(sqlite_url).throttle.is_known("ana@example.com", DEVICE, time.time())
    assert json.loads(sqlite_cli("--json", "device", "list").out)["devices"] == []


def test_device_bad_input_is_one_line(sqlite_cli: Cli) -> None:
    """Unknown member, a non-MAC, or removing what is not there: exit 1, one line."""
    assert sqlite_cli("customer", "add", "ana@example.com").code == 0
    for argv in (
        ("device", "add", "ghost@example.com", MAC),
        ("device", "add", "ana@example.com", "not-a-mac"),
        ("device", "remove", "ana@example.com", MAC),
    ):
        result = sqlite_cli(*argv)
        assert result.code == 1, argv
        assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
