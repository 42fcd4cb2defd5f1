"""``customer update --device-limit`` through the real console script, both back ends."""

from __future__ import annotations

import json

import pytest

from radius_server.store import database
from radius_server.store.customers import CustomerChanges, CustomerRepository
from radius_server.store.errors import InvalidValue
from radius_server.store.feed import ChangeFeed
from tests.conftest import Cli, CliResult

EMAIL = "ana@example.com"


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, f"exit {result.code}: {result.err}"
    return result


def one_line_error(result: CliResult, code: int = 2) -> str:
    """A refused value: the exit status, one line on stderr, no traceback."""
    assert result.code == code, result.out + result.err
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def shown(cli: Cli) -> dict[str, object]:
    return json.loads(ok(cli("--json", "customer", "show", EMAIL)).out)


def test_set_show_and_clear_a_members_device_limit(clean_cli: Cli, clean_db_url: str) -> None:
    cli = clean_cli
    ok(cli("customer", "add", EMAIL))
    assert shown(cli)["device_limit"] is None
    text = ok(cli("customer", "show", EMAIL)).out
    assert "device_limit    default (3)" in text
    engine = database.make_engine(clean_db_url)
    try:
        feed = ChangeFeed(database.make_session_factory(engine))
        position = feed.snapshot().last_seq
        result = ok(cli("customer", "update", EMAIL, "--device-limit", "5"))
        assert "device_limit    5" in result.out
        # Running servers hear of it: a change-feed row, read back as the new record.
        batch = feed.changes_after(position, set())
        (record,) = batch.customers.values()
        assert record is not None and record.device_limit == 5
    finally:
        engine.dispose()
    assert shown(cli)["device_limit"] == 5
    ok(cli("customer", "update", EMAIL, "--device-limit", "0"))
    assert "device_limit    unlimited" in ok(cli("customer", "show", EMAIL)).out
    ok(cli("customer", "update", EMAIL, "--device-limit", "DEFAULT"))
    assert shown(cli)["device_limit"] is None
    # Audited, with the value (a limit is no secret).
    history = json.loads(ok(cli("--json", "customer", "history", EMAIL)).out)
    details = [json.loads(h["details"]) for h in history if h["action"] == "customer.update"]
    assert [d["device_limit"] for d in details] == [None, 0, 5]
    assert all(d["fields"] == ["device_limit"] for d in details)
    # The same value again changes nothing and writes no history.
    ok(cli("customer", "update", EMAIL, "--device-limit", "default"))
    assert len(json.loads(ok(cli("--json", "customer", "history", EMAIL)).out)) == len(history)


@pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("abc", "'abc' is not a device limit"),
        ("-1", "'-1' is not a device limit"),
        ("2.5", "'2.5' is not a device limit"),
        ("1001", "a device limit must be 0 (unlimited) to 1000"),
        ("", "'' is not a device limit"),
    ],
)
def test_a_bad_device_limit_is_one_line_and_changes_nothing(
    clean_cli: Cli, value: str, needle: str
) -> None:
    ok(clean_cli("customer", "add", EMAIL))
    line = one_line_error(clean_cli("customer", "update", EMAIL, "--device-limit", value))
    assert needle in line
    assert shown(clean_cli)["device_limit"] is None
    as_json = clean_cli("--json", "customer", "update", EMAIL, "--device-limit", value)
    assert as_json.code == 2 and needle in json.loads(as_json.out)["error"]


@pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)
def test_an_unknown_member_is_one_line(clean_cli: Cli) -> None:
    line = one_line_error(
        clean_cli("customer", "update", "nobody@example.com", "--device-limit", "2"), code=1
    )
    assert "no customer with email nobody@example.com" in line


def test_the_repository_refuses_an_out_of_range_limit(clean_db_url: str) -> None:
    """Callers other than the CLI (the coming HTTP API) get the same rule from the store."""
    engine = database.make_engine(clean_db_url)
    try:
        repo = CustomerRepository(database.make_session_factory(engine), actor="test")
        repo.add(EMAIL)
        for bad in (-1, 1001):
            with pytest.raises(InvalidValue, match="0 \\(unlimited\\) to 1000"):
                repo.update(EMAIL, CustomerChanges(device_limit=bad))
        assert repo.update(EMAIL, CustomerChanges(device_limit=1000)).device_limit == 1000
        cleared = repo.update(EMAIL, CustomerChanges(clear_device_limit=True, device_limit=4))
        assert cleared.device_limit is None  # clearing wins over a value given with it
    finally:
        engine.dispose()
