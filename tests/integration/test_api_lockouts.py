"""``/api/v1/lockouts``, ``/api/v1/devices`` and ``/api/v1/audit``, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from radius_server.admin.customers import NewCustomer
from radius_server.rules.roles import Role
from radius_server.rules.throttle import EventKind, ThrottleEvent
from radius_server.store.throttle_log import ThrottleLog
from tests.integration.api_fixtures import Api, api_factory, assert_hidden, assert_problem

__all__ = ["api_factory"]

BOB = "bob@example.com"
PIN = "40517"


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> Api:
    """Budget 3 failures; Bob is a member."""
    api = api_factory(throttle_user_budget=3)
    api.admin.customers.add(NewCustomer(BOB, "Bob", pin=PIN))
    return api


def lock_bob(api: Api) -> None:
    """Five failures from another server, as in the shared log."""
    now = time.time()
    ThrottleLog(api.sessions, "server-a").append(
        [
            ThrottleEvent(EventKind.FAILURE, now - 10 + i, BOB, fingerprint=bytes([i]))
            for i in range(5)
        ]
    )


def test_lockouts_are_listed_to_readonly_and_cleared_by_an_operator(api: Api) -> None:
    """The lock every server sees; readonly may not clear; the operator's clear lifts it."""
    lock_bob(api)
    listed = api.get("/api/v1/lockouts", Role.READONLY)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [(k["scope"], k["key"]) for k in body["locks"]] == [("user", BOB)]
    assert body["users_with_failures"][0] == {"user": BOB, "failures": 5, "budget": 3}
    assert_hidden(listed, PIN)
    assert_problem(api.delete(f"/api/v1/lockouts/{BOB}", Role.READONLY), 403, "forbidden")
    cleared = api.delete("/api/v1/lockouts/Bob@Example.com", Role.OPERATOR)
    assert cleared.json() == {"cleared": BOB}
    assert api.get("/api/v1/lockouts").json() == {"locks": [], "users_with_failures": []}
    last = api.admin.customers.history(1)[0]
    assert (last.actor, last.action, last.target) == ("token:test-operator", "lockout.clear", BOB)


def test_clearing_a_malformed_email_is_a_problem(api: Api) -> None:
    """Not an email: 422, nothing written."""
    before = api.admin.customers.history(50)
    assert_problem(api.delete("/api/v1/lockouts/not-an-email", Role.OPERATOR), 422, "invalid-value")
    assert api.admin.customers.history(50) == before


def test_devices_added_listed_and_removed(api: Api) -> None:
    """An operator makes a device known; readonly lists it; a stranger or a bad MAC is refused."""
    added = api.post(
        "/api/v1/devices", Role.OPERATOR, json={"email": BOB, "device": "AA-BB-CC-DD-EE-FF"}
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"email": BOB, "device": "aa:bb:cc:dd:ee:ff"}
    listed = api.get("/api/v1/devices", Role.READONLY, params={"email": BOB}).json()
    assert [(d["email"], d["device"]) for d in listed] == [(BOB, "aa:bb:cc:dd:ee:ff")]
    assert listed[0]["until"] > listed[0]["last_seen"]
    assert_problem(
        api.post(
            "/api/v1/devices", Role.READONLY, json={"email": BOB, "device": "aa:bb:cc:dd:ee:ff"}
        ),
        403,
        "forbidden",
    )
    assert_problem(
        api.post(
            "/api/v1/devices", json={"email": "zed@example.com", "device": "aa:bb:cc:dd:ee:01"}
        ),
        404,
        "not-found",
    )
    assert_problem(
        api.post("/api/v1/devices", json={"email": BOB, "device": "nonsense"}), 422, "invalid-value"
    )
    removed = api.delete(f"/api/v1/devices/{BOB}/AA:BB:CC:DD:EE:FF", Role.OPERATOR)
    assert removed.json() == {"email": BOB, "device": "aa:bb:cc:dd:ee:ff"}
    assert api.get("/api/v1/devices").json() == []
    assert_problem(api.delete(f"/api/v1/devices/{BOB}/aa:bb:cc:dd:ee:ff"), 404, "not-found")


def test_audit_pages_newest_first_by_target(api: Api) -> None:
    """Every event once across pages, newest first; a target narrows; details are objects."""
    for i in range(5):
        api.admin.customers.add(NewCustomer(f"m{i}@example.com", pin=f"5{i}123"))
    api.admin.guessing.clear(BOB)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/audit", Role.READONLY, params=params)
        assert page.status_code == 200, page.text
        assert_hidden(page, PIN, "50123")
        body = page.json()
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    everything = [e.id for e in api.admin.customers.history(100)]
    assert seen == everything and seen == sorted(seen, reverse=True)
    assert len(seen) == 10  # three tokens, Bob, five members, the clear
    bob = api.get("/api/v1/audit", params={"target": BOB}).json()["items"]
    assert [e["action"] for e in bob] == ["lockout.clear", "customer.add"]
    assert all(isinstance(e["details"], dict) for e in bob)
    assert bob[0]["actor"] == "test-setup"


def test_audit_refuses_a_cursor_it_did_not_give(api: Api) -> None:
    """A made-up cursor is a 422 naming it."""
    assert_problem(
        api.get("/api/v1/audit", params={"cursor": "bm90LWFuLWlk"}),
        422,
        "invalid-request",
        "cursor",
    )
