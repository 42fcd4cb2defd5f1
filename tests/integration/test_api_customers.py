"""Customer and PIN routes of /api/v1: create, show, change, remove, PIN; both back ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from radius_server.admin.customers import NewCustomer
from radius_server.admin.plans import NewPlan
from tests.integration.api_fixtures import Api, api_factory  # noqa: F401 (a fixture)
from tests.integration.customer_api import OPERATOR_ACTOR, CustomerApi, problem

ANA = "ana@example.com"
BO = "bo@example.com"
# Every character an email path must carry: "+", ".", "@", capitals.
ODD = "Ana.B+wifi@Example.com"


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> CustomerApi:  # noqa: F811 (the imported fixture)
    """The application in Europe/Berlin (dates are whole local days), a token per role."""
    return CustomerApi(api_factory(timezone="Europe/Berlin"))


def test_create_answers_201_with_location_pin_and_plan_name(api: CustomerApi) -> None:
    """A create carries the drawn PIN, names the plan and is audited as the token."""
    response = api.call("POST", "/api/v1/customers", json={"email": ANA, "name": "Ana"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/v1/customers/{ANA}"
    assert response.headers["Cache-Control"] == "no-store"
    assert body["email"] == ANA and body["name"] == "Ana" and body["plan"] == "default"
    assert body["plan_id"] is None and body["warnings"] == [] and body["changed"] is True
    assert len(body["pin"]) == 5 and body["pin"] == api.admin.customers.get(ANA).pin
    assert api.audit() == [(OPERATOR_ACTOR, "customer.add", ANA, {"pin_source": "random"})]


def test_create_with_every_field(api: CustomerApi) -> None:
    """PIN, flags, a day (through its end, Berlin) and an instant, a named plan, device limit."""
    api.admin.plans.add(NewPlan("staff"))
    response = api.call(
        "POST",
        "/api/v1/customers",
        json={
            "email": ODD,
            "pin": "24680",
            "active": False,
            "wifi_access": False,
            "valid_from": "2030-01-01T08:00:00Z",
            "valid_until": "2030-03-31",
            "plan": "staff",
            "device_limit": 2,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == "/api/v1/customers/ana.b%2Bwifi@example.com"
    assert (body["email"], body["pin"], body["plan"]) == (
        "ana.b+wifi@example.com",
        "24680",
        "staff",
    )
    assert (body["active"], body["wifi_access"], body["device_limit"]) == (False, False, 2)
    record = api.admin.customers.get(ODD)
    assert record.valid_from == datetime(2030, 1, 1, 8, tzinfo=UTC)
    # 2030-03-31 in Europe/Berlin (summer time from that day): through 22:00 UTC.
    assert record.valid_until == datetime(2030, 3, 31, 22, tzinfo=UTC)
    assert record.device_limit == 2 and record.plan_id is not None


@pytest.mark.parametrize(
    ("body", "status", "slug", "field"),
    [
        ({"email": ANA, "pin": "1234"}, 422, "invalid-pin", "pin"),
        ({"email": ANA, "pin": "abcde"}, 422, "invalid-pin", "pin"),
        ({"email": "not-an-email"}, 422, "invalid-value", None),
        ({"email": ANA, "plan": "nope"}, 422, "invalid-value", "plan"),
        ({"email": ANA, "device_limit": -1}, 422, "invalid-value", None),
        (
            {"email": ANA, "valid_from": "2030-02-01", "valid_until": "2030-01-01"},
            422,
            "invalid-value",
            None,
        ),
        ({"email": ANA, "valid_until": "soon"}, 422, "invalid-request", "valid_until"),
        ({"email": ANA, "colour": "red"}, 422, "invalid-request", "colour"),
        ({"email": ANA, "pin": 12345}, 422, "invalid-request", "pin"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(
    api: CustomerApi, body: dict[str, object], status: int, slug: str, field: str | None
) -> None:
    """Each bad value is a problem naming its kind (and field where known); nothing written."""
    before = api.writes()
    answer = problem(api.call("POST", "/api/v1/customers", json=body), status, slug)
    if field is not None:
        assert answer["field"] == field
    assert "pin" not in answer or answer.get("field") == "pin"
    assert api.writes() == before


def test_create_conflicts(api: CustomerApi) -> None:
    """An email or PIN already in use: 409, naming the holder but never the PIN."""
    api.admin.customers.add(NewCustomer(BO, pin="13579"))
    taken = problem(
        api.call("POST", "/api/v1/customers", json={"email": ANA, "pin": "13579"}),
        409,
        "pin-taken",
    )
    assert taken["field"] == "pin" and "13579" not in str(taken) and BO in taken["detail"]
    again = api.call("POST", "/api/v1/customers", json={"email": BO.upper()})
    problem(again, 409, "already-exists")


def test_show_and_list_name_the_plan_and_hide_pins_from_readonly(api: CustomerApi) -> None:
    """readonly reads members but never a PIN; operator gets one only when asking."""
    api.admin.plans.add(NewPlan("staff"))
    api.admin.customers.add(NewCustomer(ANA, pin="11235", plan="staff"))
    api.admin.customers.add(NewCustomer(ODD, pin="31415"))
    path = "/api/v1/customers/ana.b+wifi@example.com"
    shown = api.call("GET", path, "readonly").json()
    assert shown["email"] == "ana.b+wifi@example.com" and shown["pin"] is None
    assert shown["plan"] == "default"
    problem(api.call("GET", path + "?include_pin=true", "readonly"), 403, "forbidden")
    assert api.call("GET", path + "?include_pin=true").json()["pin"] == "31415"
    assert api.call("GET", "/api/v1/customers/ANA.B%2BWIFI@example.com").json()["pin"] is None
    listed = api.call("GET", "/api/v1/customers", "readonly").json()["items"]
    assert [(c["email"], c["plan"], c["pin"]) for c in listed] == [
        ("ana.b+wifi@example.com", "default", None),
        (ANA, "staff", None),
    ]
    problem(api.call("GET", "/api/v1/customers/nobody@example.com"), 404, "not-found")


def test_patch_changes_clears_and_audits(api: CustomerApi) -> None:
    """Partial update: null clears dates, device limit and plan; untouched fields stay."""
    api.admin.plans.add(NewPlan("staff"))
    api.admin.customers.add(
        NewCustomer(ANA, "Ana", valid_from=datetime(2030, 1, 1, tzinfo=UTC), device_limit=3)
    )
    path = f"/api/v1/customers/{ANA}"
    changed = api.call(
        "PATCH", path, json={"name": "Ana M", "valid_until": "2030-06-30", "plan": "staff"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["plan"], body["device_limit"], body["pin"]) == (
        "Ana M",
        "staff",
        3,
        None,
    )
    assert body["valid_until"] == "2030-06-30T22:00:00Z"
    cleared = api.call(
        "PATCH", path, json={"valid_from": None, "device_limit": None, "plan": None}
    ).json()
    assert (cleared["valid_from"], cleared["device_limit"], cleared["plan"]) == (
        None,
        None,
        "default",
    )
    assert cleared["valid_until"] is not None and cleared["name"] == "Ana M"
    updates = [a for a in api.audit() if a[1] == "customer.update"]
    assert [(a[0], a[3]["fields"]) for a in updates] == [
        (OPERATOR_ACTOR, ["full_name", "plan", "valid_until"]),
        (OPERATOR_ACTOR, ["device_limit", "plan", "valid_from"]),
    ]
    before = api.writes()
    problem(api.call("PATCH", path, json={"name": None}), 422, "invalid-request")
    problem(api.call("PATCH", path, json={"pin": "12345"}), 422, "invalid-request")
    problem(api.call("PATCH", path, json={"device_limit": 100000}), 422, "invalid-value")
    problem(api.call("PATCH", path, "readonly", json={"name": "x"}), 403, "forbidden")
    problem(api.call("PATCH", "/api/v1/customers/x@example.com", json={}), 404, "not-found")
    assert api.writes() == before


def test_delete_answers_204_then_404(api: CustomerApi) -> None:
    """Remove a member (audited as the token); a second remove is not found."""
    api.admin.customers.add(NewCustomer(ODD))
    path = "/api/v1/customers/ana.b+wifi@example.com"
    removed = api.call("DELETE", path)
    assert removed.status_code == 204 and removed.content == b""
    problem(api.call("DELETE", path), 404, "not-found")
    assert api.audit()[-1][:3] == (OPERATOR_ACTOR, "customer.remove", ODD.lower())


def test_set_pin(api: CustomerApi) -> None:
    """PUT .../pin gives the PIN and answers with it; the same again changes nothing."""
    api.admin.customers.add(NewCustomer(ANA, pin="11111"))
    api.admin.customers.add(NewCustomer(BO, pin="22222"))
    path = f"/api/v1/customers/{ANA}/pin"
    changed = api.call("PUT", path, json={"pin": "54321"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["pin"], changed.json()["changed"]) == ("54321", True)
    assert changed.headers["Cache-Control"] == "no-store"
    assert api.admin.customers.get(ANA).pin == "54321"
    before = api.writes()
    same = api.call("PUT", path, json={"pin": "54321"}).json()
    assert (same["pin"], same["changed"]) == ("54321", False)
    taken = problem(api.call("PUT", path, json={"pin": "22222"}), 409, "pin-taken")
    assert taken["field"] == "pin" and "22222" not in str(taken)
    invalid = problem(api.call("PUT", path, json={"pin": "2222x"}), 422, "invalid-pin")
    assert "2222x" not in str(invalid)
    problem(api.call("PUT", path, "readonly", json={"pin": "12345"}), 403, "forbidden")
    assert api.writes() == before
    assert api.admin.customers.get(ANA).pin == "54321"
    actions = [a[1] for a in api.audit()]
    assert actions.count("customer.set_pin") == 1


def test_regenerate_pin(api: CustomerApi) -> None:
    """POST .../pin:regenerate draws a new PIN and answers with it."""
    api.admin.customers.add(NewCustomer(ODD, pin="11111"))
    answer = api.call("POST", "/api/v1/customers/ana.b+wifi@example.com/pin:regenerate")
    assert answer.status_code == 200, answer.text
    pin = answer.json()["pin"]
    assert pin != "11111" and pin == api.admin.customers.get(ODD).pin
    assert api.audit()[-1][:2] == (OPERATOR_ACTOR, "customer.regenerate_pin")
    problem(api.call("POST", f"/api/v1/customers/{BO}/pin:regenerate"), 404, "not-found")


def test_colon_routes_are_not_taken_for_an_email(api: CustomerApi) -> None:
    """/customers:sync and :export are their own routes, never /customers/{email}."""
    api.admin.customers.add(NewCustomer(ANA))
    problem(api.call("GET", "/api/v1/customers:sync"), 405, "method-not-allowed")
    problem(api.call("DELETE", "/api/v1/customers:export"), 405, "method-not-allowed")
    problem(api.call("GET", "/api/v1/customers/:sync"), 422, "invalid-value")
    assert api.admin.customers.get(ANA).email == ANA


def test_openapi_documents_the_customer_routes(api: CustomerApi) -> None:
    """Every customer route and its typed bodies are in the OpenAPI document."""
    document = api.client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/api/v1/customers"]) == {"get", "post"}
    assert set(paths["/api/v1/customers/{email}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/customers/{email}/pin"]) == {"put"}
    assert set(paths["/api/v1/customers/{email}/pin:regenerate"]) == {"post"}
    assert set(paths["/api/v1/customers:sync"]) == {"post"}
    assert set(paths["/api/v1/customers:import"]) == {"post"}
    assert set(paths["/api/v1/customers:export"]) == {"get"}
    assert "text/csv" in paths["/api/v1/customers:import"]["post"]["requestBody"]["content"]
    schemas = document["components"]["schemas"]
    for name in ("NewCustomerIn", "CustomerPatch", "MemberStateIn", "SyncIn", "SyncOut"):
        assert schemas[name]["description"], name
    assert schemas["CustomerOut"]["properties"]["plan"]["description"]
