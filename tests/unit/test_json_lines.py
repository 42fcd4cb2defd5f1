"""The per-request line's fast path (logging.JsonLines) writes structlog's line, byte for byte.

Its line is part of the contract (keys, their order, values, redaction): here it is
compared with what ``configure_logging("json", ...)`` makes of the same event, and the
engine's ``access`` line through it with the same engine's line through structlog.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from ipaddress import ip_network
from typing import Any

import pytest
import structlog

from radius_server.logging import (
    BufferedLogger,
    JsonLines,
    configure_logging,
    flush_logs,
    get_logger,
    json_lines,
)
from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request
from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.throttle import ThrottleSettings
from radius_server.runtime.engine import Engine
from radius_server.runtime.guard import Guard

SECRET = b"lines-secret-0123456789"
NAS = "192.0.2.10"
PIN = b"48213"
_STAMP = re.compile(r'"timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"')


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Leave structlog (and the module's buffer) as the other tests expect them."""
    yield
    configure_logging("json", "info", stream=io.StringIO())
    structlog.reset_defaults()


def _structlog_line(level: str, event: str, fields: dict[str, Any]) -> str:
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    getattr(get_logger(), level)(event, **fields)
    return out.getvalue().rstrip("\n")


def _fast_line(level: str, event: str, fields: dict[str, Any], min_level: str = "debug") -> str:
    out = io.StringIO()
    JsonLines(sink := BufferedLogger(out), min_level).write(level, event, dict(fields))
    sink.flush()
    return out.getvalue().rstrip("\n")


def _without_time(line: str) -> str:
    assert _STAMP.search(line), line
    return _STAMP.sub('"timestamp": "T"', line)


FIELDS: dict[str, Any] = {
    "outcome": "reject",
    "reason": "wrong_pin",
    "client": "lobby ap",
    "client_address": "192.0.2.10",
    "duration_ms": 0.061,
    "request_id": "1f2e-42",
    "method": "pap",
    "packet": "access-request",
    "identifier": 7,
    "user": 'ana\x1b[2J"é\u202e@example.com',
    "calling_station": "02-00-00-00-00-01",
    "stored": None,
}


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_the_line_is_structlogs_line(level: str) -> None:
    """Same keys in the same order, same escaping, event/level/timestamp last."""
    fast = _fast_line(level, "access", FIELDS)
    assert _without_time(fast) == _without_time(_structlog_line(level, "access", FIELDS))
    assert list(json.loads(fast))[-3:] == ["event", "level", "timestamp"]


def test_forbidden_keys_are_redacted_as_structlog_does() -> None:
    """A PIN or a secret passed by mistake never reaches the line."""
    fields = {**FIELDS, "pin": "48213", "secret": "s3cr3t", "new_pin": "11111"}
    fast = _fast_line("info", "access", fields)
    assert "48213" not in fast and "s3cr3t" not in fast and "11111" not in fast
    assert json.loads(fast)["pin"] == "[redacted]"
    assert _without_time(fast) == _without_time(_structlog_line("info", "access", fields))


def test_lines_below_the_level_are_dropped() -> None:
    out = io.StringIO()
    lines = JsonLines(sink := BufferedLogger(out), "info")
    assert not lines.enabled("debug") and lines.enabled("info") and lines.enabled("warning")
    lines.write("debug", "access", {"outcome": "challenge"})
    lines.write("warning", "access", {"outcome": "drop"})
    sink.flush()
    assert [json.loads(x)["outcome"] for x in out.getvalue().splitlines()] == ["drop"]


@pytest.mark.parametrize(
    "ns",
    [
        1_800_000_000_000_000_000,  # a whole second: isoformat leaves the fraction out
        1_800_000_000_000_001_000,
        1_800_000_000_999_999_999,  # floors to .999999, as datetime.now does
        1_800_000_001_000_000_000,
        1_764_720_000_123_456_789,
        946_684_799_999_999_000,
    ],
)
def test_timestamp_is_isoformat_in_utc_with_z(ns: int) -> None:
    lines = JsonLines(BufferedLogger(io.StringIO()))
    lines.timestamp(ns - 10**9)  # another second first: the cached prefix must follow
    expected = datetime.fromtimestamp(ns // 1000 / 1e6, UTC).isoformat().replace("+00:00", "Z")
    assert lines.timestamp(ns) == expected


def test_only_json_to_the_buffer_takes_the_fast_path() -> None:
    configure_logging("json", "info", stream=io.StringIO(), buffered=True)
    assert json_lines() is not None
    configure_logging("console", "info", stream=io.StringIO(), buffered=True)
    assert json_lines() is None
    configure_logging("json", "info", stream=io.StringIO())
    assert json_lines() is None


def _engine(log: Any, lines: JsonLines | None) -> Engine:
    directory = Directory()
    directory.ready = True
    directory.clients.put(Client(1, "lobby ap", ip_network(NAS), SECRET, True))
    directory.members.put(
        Member(7, "ana@example.com", PIN, True, True, None, None, None, previous_pin=b"11111")
    )
    return Engine(directory, log, guard=Guard(ThrottleSettings(), log, store=None), lines=lines)


def _request(pin: bytes, identifier: int) -> bytes:
    return encode_request(
        SECRET,
        identifier=identifier,
        user_name="Ana@Example.com",
        password=pin,
        authenticator=bytes([identifier]) * 16,
        attributes=[
            (c.CALLING_STATION_ID, b"02-00-00-00-00-01"),
            (c.CALLED_STATION_ID, b"02-00-00-00-00-02:Coworking"),
            (c.NAS_IDENTIFIER, b"lobby"),
        ],
    ).packet


def _access_lines(fast: bool) -> list[dict[str, Any]]:
    out = io.StringIO()
    configure_logging("json", "info", stream=out, buffered=True)
    engine = _engine(get_logger(), json_lines() if fast else None)
    for identifier, pin in enumerate((PIN, b"99999", b"1234x"), start=1):
        assert engine.handle_auth(_request(pin, identifier), (NAS, 5000)) is not None
    flush_logs()
    text = out.getvalue()
    assert "48213" not in text and "99999" not in text and SECRET.decode() not in text
    return [json.loads(x) for x in text.splitlines()]


def test_the_engines_access_line_is_the_same_either_way() -> None:
    """Through JsonLines or structlog: same keys, same order, same values (but time and id)."""
    fast, slow = _access_lines(fast=True), _access_lines(fast=False)
    assert [x["reason"] for x in fast] == ["ok", "wrong_pin", "bad_pin_format"]
    for a, b in zip(fast, slow, strict=True):
        assert list(a) == list(b)
        for volatile in ("duration_ms", "request_id", "timestamp"):
            del a[volatile], b[volatile]
        assert a == b
