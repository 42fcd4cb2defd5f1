"""The per-request line's fast path (logging.JsonLines) writes structlog's line, byte for byte.

Its line is part of the contract (keys, their order, values, redaction): here it is
compared with what ``configure_logging("json", ...)`` makes of the same event, and the
engine's ``access`` line through it with the same engine's line through structlog.
"""

from __future__ import annotations

import io
import json
import random
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
    _line_chunks,
    configure_logging,
    flush_logs,
    get_logger,
    json_lines,
)
from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request
from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.plans import PlanDefinition, compile_plan
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


@pytest.mark.parametrize("ns", [1_800_000_000_000_000_000, 1_764_720_000_123_456_789])
def test_write_object_is_write_for_fields_already_encoded(
    ns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's path (its own text) and ``write`` (a dict) make the same line."""
    monkeypatch.setattr("radius_server.logging.time.time_ns", lambda: ns)
    out = io.StringIO()
    lines = JsonLines(sink := BufferedLogger(out), "info")
    lines.write_object("debug", "access", '{"outcome": "challenge"')  # below the level
    lines.write("info", "access", {"outcome": "accept", "identifier": 7})
    lines.write_object("info", "access", '{"outcome": "accept", "identifier": 7')
    sink.flush()
    first, second = out.getvalue().splitlines()
    assert first == second and first.endswith(f'"timestamp": "{lines.timestamp(ns)}"}}')


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


_NAS_ATTRIBUTES = [
    (c.CALLING_STATION_ID, b"02-00-00-00-00-01"),
    (c.CALLED_STATION_ID, b"02-00-00-00-00-02:Coworking"),
    (c.NAS_IDENTIFIER, b"lobby"),
]


def _request(
    pin: bytes,
    identifier: int,
    user_name: str = "Ana@Example.com",
    attributes: list[tuple[int, bytes]] | None = None,
) -> bytes:
    return encode_request(
        SECRET,
        identifier=identifier,
        user_name=user_name,
        password=pin,
        authenticator=bytes([identifier]) * 16,
        attributes=_NAS_ATTRIBUTES if attributes is None else attributes,
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


# Requests whose lines take every optional key (or leave it out): method, plan, detail,
# user (known, unknown, odd text), stations and NAS-Identifier with text to escape.
_VARIED = [
    (PIN, "Ana@Example.com", None),
    (b"99999", "Ana@Example.com", []),
    (b"1234x", "Ana@Example.com", [(c.NAS_IDENTIFIER, b'lobby "\\ \x1b\xc3\xa9')]),
    (b"99999", ' nobody\u202e"@example.com ', [(c.CALLING_STATION_ID, b"x" * 90)]),
    (b"99999", "Ana@Example.com", [(c.CALLED_STATION_ID, b"\xff\xfe:caf\xc3\xa9")]),
    *[(b"%05d" % n, "ana@example.com", None) for n in range(11111, 11122)],  # locks: detail
    (PIN, "ana@example.com", None),
]


def _access_text(fast: bool, plan: bool) -> list[str]:
    out = io.StringIO()
    configure_logging("json", "info", stream=out, buffered=True)
    engine = _engine(get_logger(), json_lines() if fast else None)
    if plan:
        default = PlanDefinition(1, 'default \u00e9 "x"', is_default=True)
        engine.directory.plans.replace_all([compile_plan(default)])
    for identifier, (pin, user, attributes) in enumerate(_VARIED, start=1):
        engine.handle_auth(_request(pin, identifier, user, attributes), (NAS, 5000))
    flush_logs()
    return [x for x in out.getvalue().splitlines() if '"event": "access"' in x]


def _masked(line: str) -> str:
    return re.sub(r'"(duration_ms|request_id|timestamp)": [^,}]*', r'"\1": V', line)


@pytest.mark.parametrize("plan", [False, True])
def test_the_engines_access_line_is_the_same_text_either_way(plan: bool) -> None:
    """Byte for byte (but time and id): the fast path's text is the JSON encoder's."""
    fast, slow = _access_text(fast=True, plan=plan), _access_text(fast=False, plan=plan)
    assert len(fast) == len(_VARIED)
    assert [_masked(x) for x in fast] == [_masked(x) for x in slow]
    reasons = [json.loads(x)["reason"] for x in fast]
    assert {"ok", "wrong_pin", "bad_pin_format", "unknown_user", "locked_out"} <= set(reasons)
    assert any("detail" in json.loads(x) for x in fast)
    accepts = [json.loads(x) for x in fast if '"reason": "ok"' in x]
    assert accepts and all(("plan" in x) == plan for x in accepts)


def test_flushed_chunks_are_whole_lines_of_at_most_pipe_buf() -> None:
    """Each write is whole lines within 4096 octets (atomic on a pipe), a longer line alone."""
    rng = random.Random(3)
    for _ in range(500):
        lines = [
            "x" * rng.choice([0, 1, 10, 500, 4094, 4095, 4096, 5000]) + "é" * rng.randrange(3)
            for _ in range(rng.randrange(1, 30))
        ]
        chunks = _line_chunks(lines)
        assert b"".join(chunks) == ("\n".join(lines) + "\n").encode()
        for chunk in chunks:
            assert chunk.endswith(b"\n")
            assert len(chunk) <= 4096 or chunk.count(b"\n") == 1


def test_millis_is_repr_of_round() -> None:
    """duration_ms on the fast path: the digits the JSON encoder writes for round(x, 3)."""
    from radius_server.runtime.engine import _millis

    rng = random.Random(5)
    edge = [0.0, 1e-9, 4.9999e-7, 5e-7, 5.0001e-7, 0.001, 0.0015, 0.0025, 1.0, 0.1, 12.3456789]
    values = edge + [
        rng.random() * rng.choice([1e-5, 1e-4, 1e-3, 1e-2, 1, 100]) for _ in range(50000)
    ]
    for seconds in values:
        assert _millis(seconds) == json.dumps(round(seconds * 1000, 3)), seconds
