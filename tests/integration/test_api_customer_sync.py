"""The platform push (PUT /customers/{email}), the full sync (:sync) and CSV; both back ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from radius_server.admin.customers import NewCustomer
from radius_server.admin.plans import NewPlan
from radius_server.store.models import DisconnectJob
from tests.integration.api_fixtures import Api, api_factory  # noqa: F401 (a fixture)
from tests.integration.customer_api import OPERATOR_ACTOR, CustomerApi, problem
from tests.integration.test_api_customers import ANA, BO
from tests.integration.test_disconnect_jobs import open_session

CY = "cy@example.com"
ODD = "ana.b+wifi@example.com"


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> CustomerApi:  # noqa: F811 (the imported fixture)
    """The application in Europe/Berlin (dates are whole local days), a token per role."""
    return CustomerApi(api_factory(timezone="Europe/Berlin"))


def put(api: CustomerApi, email: str, body: dict[str, Any], role: str = "operator") -> Any:
    """PUT a member's state."""
    return api.call("PUT", f"/api/v1/customers/{email}", role, json=body)


def jobs(api: CustomerApi) -> list[tuple[str, str]]:
    """(member, reason) of every disconnect job."""
    with api.sessions() as session:
        rows = session.scalars(select(DisconnectJob).order_by(DisconnectJob.id))
        return [(r.member_email, r.reason) for r in rows]


def test_put_creates_then_is_unchanged_and_writes_nothing(api: CustomerApi) -> None:
    """201 with the drawn PIN; the same state again: 200 unchanged, no write, no PIN."""
    state = {"name": "Ana", "valid_until": "2030-12-31", "active": True}
    created = put(api, ODD, state)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == "/api/v1/customers/ana.b%2Bwifi@example.com"
    assert (body["result"], body["changed"]) == ("created", ["active", "name", "valid_until"])
    assert body["customer"]["pin"] == api.admin.customers.get(ODD).pin
    assert body["customer"]["plan"] == "default"
    assert api.audit() == [(OPERATOR_ACTOR, "customer.upsert", ODD, {"created": True})]
    before = api.writes()
    again = put(api, ODD, state)
    assert again.status_code == 200, again.text
    assert (again.json()["result"], again.json()["changed"]) == ("unchanged", [])
    assert again.json()["customer"]["pin"] is None and "Location" not in again.headers
    assert created.headers["Cache-Control"] == "no-store" and "Cache-Control" not in again.headers
    assert api.writes() == before


def test_put_updates_and_names_the_fields(api: CustomerApi) -> None:
    """Only what differs is written; fields left out stay; a new PIN is in the answer."""
    api.admin.plans.add(NewPlan("staff"))
    api.admin.customers.add(NewCustomer(ANA, "Ana", pin="11111", device_limit=2))
    answer = put(api, ANA.upper(), {"name": "Ana M", "plan": "staff", "pin": "11111"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["result"], body["changed"]) == ("updated", ["name", "plan"])
    assert body["customer"]["pin"] is None and body["customer"]["device_limit"] == 2
    assert body["customer"]["plan"] == "staff"
    assert api.audit()[-1] == (
        OPERATOR_ACTOR,
        "customer.upsert",
        ANA,
        {"fields": ["name", "plan"]},
    )
    pin = put(api, ANA, {"pin": "22222", "plan": None, "device_limit": None}).json()
    assert (pin["changed"], pin["customer"]["pin"]) == (["device_limit", "pin", "plan"], "22222")
    assert api.admin.customers.get(ANA).previous_pin == "11111"
    # Devices signed in with the old PIN are sent away, as for 'customer set-pin'.
    assert jobs(api) == [(ANA, "pin_changed")]
    disabled = put(api, ANA, {"active": False}).json()
    assert disabled["changed"] == ["active"] and jobs(api)[-1] == (ANA, "disabled")


def test_put_conflicts_and_bad_values_write_nothing(api: CustomerApi) -> None:
    """Another member's PIN: 409 pin-taken (never the PIN); bad values: 422 with the field."""
    api.admin.customers.add(NewCustomer(BO, pin="13579"))
    api.admin.customers.add(NewCustomer(ANA, pin="11111"))
    before = api.writes()
    taken = problem(put(api, ANA, {"pin": "13579"}), 409, "pin-taken")
    assert taken["field"] == "pin" and BO in taken["detail"] and "13579" not in str(taken)
    problem(put(api, CY, {"pin": "13579"}), 409, "pin-taken")
    assert problem(put(api, ANA, {"pin": "1357"}), 422, "invalid-pin")["field"] == "pin"
    assert problem(put(api, ANA, {"plan": "nope"}), 422, "invalid-value")["field"] == "plan"
    window = {"valid_from": "2030-02-01", "valid_until": "2030-01-01"}
    assert problem(put(api, ANA, window), 422, "invalid-value")["field"] == "valid_until"
    assert problem(put(api, "nobody", {}), 422, "invalid-value")["field"] == "email"
    assert problem(put(api, ANA, {"email": BO}), 422, "invalid-request")["field"] == "email"
    problem(put(api, ANA, {"name": "x"}, "readonly"), 403, "forbidden")
    assert api.writes() == before
    assert api.admin.customers.get(ANA).pin == "11111"


def sync(api: CustomerApi, members: list[dict[str, Any]], **options: Any) -> Any:
    """POST a full sync."""
    return api.call("POST", "/api/v1/customers:sync", json={"members": members, **options})


def test_sync_reports_each_member_in_one_audited_write(api: CustomerApi) -> None:
    """created, updated (with fields), unchanged; PINs only for those the sync chose."""
    api.admin.customers.add(NewCustomer(ANA, "Ana", pin="11111"))
    api.admin.customers.add(NewCustomer(BO, "Bo", pin="22222"))
    feed = [
        {"email": ANA, "name": "Ana"},
        {"email": "BO@example.com", "name": "Bo B", "wifi_access": False},
        {"email": CY, "name": "Cy", "pin": "33333"},
        {"email": ODD},
    ]
    answer = sync(api, feed)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["dry_run"], body["written"]) == (False, True)
    assert body["counts"] == {"created": 2, "updated": 1, "unchanged": 1, "disabled": 0}
    results = {r["email"]: r for r in body["results"]}
    assert results[ANA] == {"email": ANA, "result": "unchanged", "changed": [], "pin": None}
    assert results[BO] == {
        "email": BO,
        "result": "updated",
        "changed": ["name", "wifi_access"],
        "pin": None,
    }
    assert results[CY]["pin"] == "33333"
    assert results[ODD]["pin"] == api.admin.customers.get(ODD).pin
    assert [a[:3] for a in api.audit() if a[1] == "customer.sync"] == [
        (OPERATOR_ACTOR, "customer.sync", "")
    ]
    assert jobs(api) == [(BO, "wifi_revoked")]
    before = api.writes()
    again = sync(api, feed).json()
    assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 4, "disabled": 0}
    assert again["written"] is False and api.writes() == before


def test_sync_disables_missing_members_only_when_asked(api: CustomerApi) -> None:
    """Members not in the feed stay as they are, unless disable_missing; dry run writes nothing."""
    for email in (ANA, BO, CY):
        api.admin.customers.add(NewCustomer(email))
    feed = [{"email": ANA}]
    assert sync(api, feed).json()["counts"]["disabled"] == 0
    assert api.admin.customers.get(BO).active
    before = api.writes()
    dry = sync(api, feed, disable_missing=True, dry_run=True).json()
    assert (dry["dry_run"], dry["written"], dry["counts"]["disabled"]) == (True, False, 2)
    assert api.writes() == before and api.admin.customers.get(BO).active
    done = sync(api, feed, disable_missing=True).json()
    assert [(r["email"], r["result"]) for r in done["results"]] == [
        (ANA, "unchanged"),
        (BO, "disabled"),
        (CY, "disabled"),
    ]
    assert not api.admin.customers.get(BO).active and not api.admin.customers.get(CY).active
    assert api.audit()[-1][3] == {"created": 0, "updated": 0, "disabled": 2}
    assert jobs(api) == [(BO, "disabled"), (CY, "disabled")]
    # Already disabled: nothing more to do.
    assert sync(api, feed, disable_missing=True).json()["counts"]["disabled"] == 0
    problem(sync(api, [], disable_missing=True), 422, "invalid-value")


def test_sync_is_all_or_nothing_and_lists_every_bad_member(api: CustomerApi) -> None:
    """Every bad item (with index and field) in one 422; none of the feed is written."""
    api.admin.customers.add(NewCustomer(BO, pin="22222"))
    feed = [
        {"email": ANA, "name": "Ana"},
        {"email": "broken"},
        {"email": CY, "pin": "22222"},
        {"email": ANA},
        {"email": ODD, "plan": "nope"},
        {"email": "dy@example.com", "pin": "12"},
        {"email": "ed@example.com", "pin": "44444"},
        {"email": "fy@example.com", "pin": "44444"},
    ]
    before = api.writes()
    answer = problem(sync(api, feed, disable_missing=True), 422, "invalid-rows")
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [
        (1, "email"),
        (2, "pin"),
        (3, "email"),
        (4, "plan"),
        (5, "pin"),
        (7, "pin"),
    ]
    assert answer["errors"][-1]["reason"] == "PIN also given on index 6"
    assert "22222" not in str(answer) and BO in answer["errors"][1]["reason"]
    assert api.writes() == before and len(api.admin.customers.find()) == 1
    problem(
        api.call("POST", "/api/v1/customers:sync", "readonly", json={"members": []}),
        403,
        "forbidden",
    )


def test_csv_import_and_export(api: CustomerApi) -> None:
    """text/csv in (dry run, all or nothing), out (PINs only for operators who ask)."""
    csv_type = {"Content-Type": "text/csv"}
    text = "email,name,pin\nana@example.com,Ana,11111\nbo@example.com,Bo,\n"
    dry = api.call("POST", "/api/v1/customers:import?dry_run=true", content=text, headers=csv_type)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["created"], dry.json()["written"]) == (2, False)
    assert len(api.admin.customers.find()) == 0
    done = api.call("POST", "/api/v1/customers:import", content=text, headers=csv_type).json()
    assert (done["ok"], done["created"], done["written"]) == (True, 2, True)
    assert api.audit()[-1][:2] == (OPERATOR_ACTOR, "customer.import")
    before = api.writes()
    bad = "email,pin\ncy@example.com,11111\nnot-an-email,\n"
    refused = problem(
        api.call("POST", "/api/v1/customers:import", content=bad, headers=csv_type),
        422,
        "invalid-rows",
    )
    assert [e["line"] for e in refused["errors"]] == [2, 3] and "11111" not in str(refused)
    assert refused["report"]["written"] is False
    latin = "email,name\nana@example.com,Jos\xe9\n".encode("latin-1")
    problem(
        api.call("POST", "/api/v1/customers:import", content=latin, headers=csv_type),
        422,
        "invalid-value",
    )
    assert api.writes() == before
    exported = api.call("GET", "/api/v1/customers:export", "readonly")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert (
        exported.text.splitlines()[0] == "email,name,active,wifi_access,valid_from,valid_until,plan"
    )
    assert "11111" not in exported.text
    problem(
        api.call("GET", "/api/v1/customers:export?include_pin=true", "readonly"), 403, "forbidden"
    )
    exported_pins = api.call("GET", "/api/v1/customers:export?include_pin=true")
    assert exported_pins.headers["Cache-Control"] == "no-store"
    with_pins = exported_pins.text
    assert "ana@example.com,Ana,11111," in with_pins
    back = api.call("POST", "/api/v1/customers:import", content=with_pins, headers=csv_type)
    assert (back.json()["unchanged"], back.json()["written"]) == (2, False)
    assert api.writes() == before
    problem(
        api.call("POST", "/api/v1/customers:import", "readonly", content=text, headers=csv_type),
        403,
        "forbidden",
    )


def test_sync_moves_online_members_to_their_new_plan(api: CustomerApi) -> None:
    """A plan changed by a sync reaches a member online (plan_changed job), not one offline."""
    api.admin.plans.add(NewPlan("staff"))
    api.admin.customers.add(NewCustomer(ANA))
    api.admin.customers.add(NewCustomer(BO))
    open_session(api.sessions, ANA, "s1")
    open_session(api.sessions, BO, "s2", stopped=True)
    answer = sync(api, [{"email": ANA, "plan": "staff"}, {"email": BO, "plan": "staff"}])
    assert answer.json()["counts"]["updated"] == 2, answer.text
    assert jobs(api) == [(ANA, "plan_changed")]
    assert api.audit()[-1][3] == {"created": 0, "updated": 2, "plan_changed_jobs": 1}
