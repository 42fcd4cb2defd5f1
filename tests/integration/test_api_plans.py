"""``/api/v1/plans`` and ``/api/v1/locations``, on SQLite and PostgreSQL."""

from __future__ import annotations

from radius_server.admin.customers import CustomerUpdate, NewCustomer
from radius_server.rules.roles import Role
from tests.integration.api_fixtures import Api, api, api_factory, assert_problem

__all__ = ["api", "api_factory"]

PLANS = "/api/v1/plans"
LOCATIONS = "/api/v1/locations"
HOT_DESK = {
    "name": "hot-desk",
    "vlan": 20,
    "down_kbps": 50000,
    "up_kbps": 10000,
    "hours": "mon-fri 8:00-19:00",
    "locations": ["Centro", "norte"],
    "reply_attributes": [
        {"name": "Filter-Id", "value": "members"},
        {"name": "Aruba-User-Role", "value": "member"},
    ],
}


def test_the_readme_example(api: Api) -> None:
    """Locations, a plan limited to them with hours and replies, a member on it."""
    assert (
        api.post(LOCATIONS, json={"name": "Centro", "timezone": "Europe/Madrid"}).status_code == 201
    )
    norte = api.post(LOCATIONS, json={"name": "Norte"})
    assert norte.json()["timezone"] == "UTC"  # the setting timezone
    created = api.post(PLANS, json=HOT_DESK)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["hours"] == "Mon-Fri 08:00-19:00"
    assert plan["locations"] == ["Centro", "Norte"]
    assert plan["reply_attributes"] == HOT_DESK["reply_attributes"]
    assert (plan["vlan"], plan["session_timeout"], plan["default"]) == (20, None, False)
    api.admin.customers.add(NewCustomer("ana@example.com"))
    api.admin.customers.update("ana@example.com", CustomerUpdate(plan="hot-desk"))
    listed = api.get(PLANS, Role.READONLY).json()
    assert {p["name"]: p["members"] for p in listed} == {"default": 0, "hot-desk": 1}
    assert api.get(f"{PLANS}/HOT-DESK", Role.READONLY).json() == {**plan, "members": 1}
    centro = api.get(f"{LOCATIONS}/centro", Role.READONLY).json()
    assert (centro["timezone"], centro["plans"], centro["nas"]) == (
        "Europe/Madrid",
        ["hot-desk"],
        [],
    )
    assert [loc["name"] for loc in api.get(LOCATIONS, Role.READONLY).json()] == ["Centro", "Norte"]


def test_update_sets_clears_and_renames(api: Api) -> None:
    """Null clears a number or the hours; locations null: everywhere; replies replace."""
    api.post(LOCATIONS, json={"name": "Centro"})
    api.post(LOCATIONS, json={"name": "Norte"})
    api.post(PLANS, json=HOT_DESK)
    changed = api.patch(
        f"{PLANS}/hot-desk",
        json={
            "name": "desk",
            "vlan": None,
            "hours": None,
            "session_timeout": 3600,
            "locations": None,
            "reply_attributes": [{"name": "Filter-Id", "value": "desk"}],
            "default": True,
        },
    )
    assert changed.status_code == 200, changed.text
    plan = changed.json()
    assert (plan["name"], plan["vlan"], plan["hours"], plan["session_timeout"]) == (
        "desk",
        None,
        None,
        3600,
    )
    assert (plan["locations"], plan["default"], plan["down_kbps"]) == (None, True, 50000)
    assert plan["reply_attributes"] == [{"name": "Filter-Id", "value": "desk"}]
    assert api.get(f"{PLANS}/default").json()["default"] is False
    limited = api.patch(f"{PLANS}/desk", json={"locations": ["Norte"], "reply_attributes": []})
    assert (limited.json()["locations"], limited.json()["reply_attributes"]) == (["Norte"], [])
    assert_problem(
        api.patch(f"{PLANS}/desk", json={"default": False}), 422, "invalid-value", "default"
    )


def test_remove_what_nobody_uses(api: Api) -> None:
    """A plan or location in use, or the default plan, is refused; unused ones go."""
    api.post(LOCATIONS, json={"name": "Centro"})
    api.post(PLANS, json={"name": "day-pass", "locations": ["Centro"]})
    assert_problem(api.delete(f"{LOCATIONS}/Centro"), 422, "invalid-value")
    assert_problem(api.delete(f"{PLANS}/default"), 422, "invalid-value")
    assert api.delete(f"{PLANS}/day-pass").json() == {"removed": "day-pass"}
    assert api.delete(f"{LOCATIONS}/centro").json() == {"removed": "Centro"}
    assert_problem(api.get(f"{PLANS}/day-pass"), 404, "not-found")
    assert_problem(api.get(f"{LOCATIONS}/Centro"), 404, "not-found")


def test_locations_rename_and_change_zone(api: Api) -> None:
    """PATCH renames and moves the zone; an unknown zone is refused, nothing written."""
    api.post(LOCATIONS, json={"name": "Centro"})
    moved = api.patch(f"{LOCATIONS}/Centro", json={"name": "Sol", "timezone": "Europe/Lisbon"})
    assert (moved.json()["name"], moved.json()["timezone"]) == ("Sol", "Europe/Lisbon")
    assert_problem(
        api.patch(f"{LOCATIONS}/Sol", json={"name": "X", "timezone": "Mars/Olympus"}),
        422,
        "invalid-value",
    )
    assert api.get(f"{LOCATIONS}/Sol").json()["timezone"] == "Europe/Lisbon"
    assert_problem(api.post(LOCATIONS, json={"name": "sol"}), 409, "already-exists")


def test_changes_are_the_admins(api: Api) -> None:
    """An operator token may read plans and locations but change none."""
    api.post(LOCATIONS, json={"name": "Centro"})
    for method, path, body in (
        ("POST", PLANS, {"name": "x"}),
        ("PATCH", f"{PLANS}/default", {"vlan": 3}),
        ("DELETE", f"{PLANS}/default", None),
        ("POST", LOCATIONS, {"name": "y"}),
        ("PATCH", f"{LOCATIONS}/Centro", {"name": "z"}),
        ("DELETE", f"{LOCATIONS}/Centro", None),
    ):
        assert_problem(api.request(method, path, Role.OPERATOR, json=body), 403, "forbidden")
    assert api.get(PLANS, Role.OPERATOR).status_code == 200


def test_bad_fields_are_named(api: Api) -> None:
    """Out of range, unreadable hours, a bad or unknown reply attribute: 422, nothing saved."""
    cases = (
        ({"name": "p", "vlan": 4095}, "invalid-request", "vlan"),
        ({"name": "p", "device_limit": -1}, "invalid-request", "device_limit"),
        ({"name": "p", "hours": "Mon 25:00-26:00"}, "invalid-request", "hours"),
        (
            {"name": "p", "reply_attributes": [{"name": "Bad Name", "value": "x"}]},
            "invalid-request",
            "reply_attributes",
        ),
        (
            {"name": "p", "reply_attributes": [{"name": "No-Such-Attr", "value": "x"}]},
            "invalid-value",
            None,
        ),
        ({"name": "p", "locations": ["Mars"]}, "not-found", None),
        ({"name": "p", "locations": []}, "invalid-value", None),
        ({"name": "a,b"}, "invalid-value", None),
    )
    for body, slug, field in cases:
        status = 404 if slug == "not-found" else 422
        problem = assert_problem(api.post(PLANS, json=body), status, slug, field)
        assert problem["detail"]
    assert [p["name"] for p in api.get(PLANS).json()] == ["default"]


def test_a_refused_update_changes_nothing(api: Api) -> None:
    """A rename beside an unknown location: 404, and the plan is as it was."""
    api.post(PLANS, json={"name": "day-pass", "vlan": 5})
    refused = api.patch(f"{PLANS}/day-pass", json={"name": "night", "vlan": 6, "locations": ["X"]})
    assert_problem(refused, 404, "not-found")
    plan = api.get(f"{PLANS}/day-pass").json()
    assert (plan["name"], plan["vlan"], plan["locations"]) == ("day-pass", 5, None)
