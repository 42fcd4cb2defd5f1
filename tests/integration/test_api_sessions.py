"""``/api/v1/sessions``: listing, showing and disconnecting sessions; SQLite and PostgreSQL.

A disconnect is completed by a stand-in for a running server: a thread that
claims the job from the real queue and completes it, as runtime/disconnector.py does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from radius_server.admin.customers import NewCustomer
from radius_server.rules.roles import Role
from radius_server.store.disconnects import DisconnectQueue, format_result
from tests.integration.api_fixtures import Api, api, api_factory, assert_hidden, assert_problem
from tests.integration.test_disconnect_jobs import open_session

__all__ = ["api", "api_factory"]

SESSIONS = "/api/v1/sessions"
ANA, BO = "ana@example.com", "bo@example.com"
PINS = ("40517", "51234")


@pytest.fixture
def ids(api: Api) -> dict[str, int]:
    """Ana online on ap1 and closed on ap2, Bo online on ap1."""
    api.admin.customers.add(NewCustomer(ANA, "Ana", pin=PINS[0]))
    api.admin.customers.add(NewCustomer(BO, "Bo", pin=PINS[1]))
    return {
        "ana_old": open_session(api.sessions, ANA, "a1", stopped=True, client="ap2"),
        "ana": open_session(api.sessions, ANA, "a2"),
        "bo": open_session(api.sessions, BO, "b1"),
    }


@pytest.fixture
def server(api: Api) -> Iterator[None]:
    """A stand-in server: claims every disconnect job and completes it as acknowledged."""
    stop = threading.Event()
    queue = DisconnectQueue(api.sessions, "stand-in")

    def work() -> None:
        while not stop.is_set():
            for job in queue.claim(time.time()):
                queue.complete(job.id, time.time(), format_result({"acked": 1}))
            stop.wait(0.05)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_list_filters_and_pages(api: Api, ids: dict[str, int]) -> None:
    """Filters as 'session list' has them; pages walk every session once, newest first."""
    listed = api.get(SESSIONS, Role.READONLY)
    assert listed.status_code == 200, listed.text
    assert_hidden(listed, *PINS)
    everything = [s["id"] for s in listed.json()["items"]]
    assert sorted(everything) == sorted(ids.values())
    online = api.get(SESSIONS, params={"online": "true"}).json()["items"]
    assert {s["id"] for s in online} == {ids["ana"], ids["bo"]}
    assert all(s["online"] and s["duration"] >= 0 for s in online)
    anas = api.get(SESSIONS, params={"member": "ANA@example.com"}).json()["items"]
    assert {s["id"] for s in anas} == {ids["ana"], ids["ana_old"]}
    on_ap2 = api.get(SESSIONS, params={"nas": "ap2"}).json()["items"]
    assert [(s["id"], s["online"]) for s in on_ap2] == [(ids["ana_old"], False)]
    walked, cursor = [], None
    while True:
        page = api.get(SESSIONS, params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        walked += [s["id"] for s in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == everything
    assert_problem(api.get(SESSIONS, params={"cursor": "eA"}), 422, "invalid-request", "cursor")


def test_show(api: Api, ids: dict[str, int]) -> None:
    """One session in full; an unknown id is a 404."""
    shown = api.get(f"{SESSIONS}/{ids['bo']}", Role.READONLY).json()
    assert (shown["member_email"], shown["client_name"], shown["online"]) == (BO, "ap1", True)
    assert_problem(api.get(f"{SESSIONS}/99999", Role.READONLY), 404, "not-found")


def test_disconnect_without_a_server_is_queued(api: Api, ids: dict[str, int]) -> None:
    """No server within the wait: 202 with the queued job, which readonly can follow."""
    queued = api.post(f"{SESSIONS}/{ids['bo']}/disconnect", Role.OPERATOR, json={"wait": 0})
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["completed"], body["all_acked"]) == (False, False)
    assert (body["job"]["session_id"], body["job"]["reason"]) == (ids["bo"], "admin")
    assert body["job"]["requested_by"] == "token:test-operator"
    assert "no server picked it up within 0 s" in body["summary"]
    followed = api.get(f"{SESSIONS}/disconnects/{body['job']['id']}", Role.READONLY).json()
    assert {**followed, "summary": ""} == {**body, "summary": ""}
    assert "no server picked it up yet" in followed["summary"]
    assert_problem(api.get(f"{SESSIONS}/disconnects/99999"), 404, "not-found")


def test_disconnect_a_member_waits_for_the_server(
    api: Api, ids: dict[str, int], server: None
) -> None:
    """A server completes the job within the wait: 200 with the NAS's answers."""
    done = api.post(f"{SESSIONS}/disconnect", Role.OPERATOR, json={"member": ANA, "wait": 10})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["completed"], body["all_acked"]) == (True, True)
    assert body["job"]["member_email"] == ANA
    assert body["job"]["counts"]["acked"] == 1
    assert body["job"]["claimed_by"] == "stand-in"
    assert body["summary"].startswith(f"disconnected {ANA}: 1 acked, 0 nak")
    one = api.post(f"{SESSIONS}/{ids['bo']}/disconnect", Role.OPERATOR)
    assert (one.status_code, one.json()["job"]["session_id"]) == (200, ids["bo"])


def test_disconnect_refusals(api: Api, ids: dict[str, int]) -> None:
    """Readonly may not; a closed session, a member offline, an unknown one, a long wait."""
    assert_problem(
        api.post(f"{SESSIONS}/{ids['bo']}/disconnect", Role.READONLY, json={"wait": 0}),
        403,
        "forbidden",
    )
    assert_problem(
        api.post(f"{SESSIONS}/{ids['ana_old']}/disconnect", json={"wait": 0}), 422, "invalid-value"
    )
    assert_problem(api.post(f"{SESSIONS}/99999/disconnect", json={"wait": 0}), 404, "not-found")
    api.admin.customers.add(NewCustomer("cy@example.com"))
    assert_problem(
        api.post(f"{SESSIONS}/disconnect", json={"member": "cy@example.com", "wait": 0}),
        404,
        "not-found",
    )
    assert_problem(
        api.post(f"{SESSIONS}/disconnect", json={"member": "123", "wait": 0}),
        422,
        "invalid-request",
        "member",
    )
    assert_problem(
        api.post(f"{SESSIONS}/disconnect", json={"member": ANA, "wait": 31}),
        422,
        "invalid-request",
        "wait",
    )
