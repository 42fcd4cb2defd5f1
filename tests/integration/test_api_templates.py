"""``/api/v1/templates/pin_reminder``: show, save, reset, preview; SQLite and PostgreSQL."""

from __future__ import annotations

from radius_server.admin.customers import NewCustomer
from radius_server.mail.template import DEFAULT_TEMPLATE
from radius_server.rules.roles import Role
from tests.integration.api_fixtures import Api, api, api_factory, assert_hidden, assert_problem

__all__ = ["api", "api_factory"]

TEMPLATE = "/api/v1/templates/pin_reminder"
MINE = {"subject": "Wi-Fi at {space_name}", "text": "Hi {name}, your PIN is {pin}."}
PIN = "40517"


def test_show_save_and_reset(api: Api) -> None:
    """Readonly reads the default; an admin saves (parts changed, audited) and resets it."""
    shown = api.get(TEMPLATE, Role.READONLY).json()
    assert (shown["source"], shown["subject"]) == ("default", DEFAULT_TEMPLATE.subject)
    assert "pin" in shown["placeholders"]
    saved = api.put(TEMPLATE, json=MINE)
    assert saved.status_code == 200, saved.text
    assert saved.json()["changed"] == ["subject", "text"]
    now = api.get(TEMPLATE, Role.READONLY).json()
    assert (now["source"], now["subject"], now["updated_by"]) == (
        "saved",
        MINE["subject"],
        "token:test-admin",
    )
    assert api.get(TEMPLATE, params={"default": "true"}).json()["source"] == "default"
    assert api.put(TEMPLATE, json=MINE).json()["changed"] == []
    last = api.admin.customers.history(1)[0]
    assert (last.action, last.actor) == ("template.set", "token:test-admin")
    reset = api.delete(TEMPLATE).json()
    assert (reset["reset"], reset["template"]["source"]) == (True, "default")
    assert api.delete(TEMPLATE).json()["reset"] is False


def test_an_unusable_template_names_every_field(api: Api) -> None:
    """{pin} in the subject and none in the body: one 422 listing both, nothing saved."""
    refused = api.put(TEMPLATE, json={"subject": "PIN {pin}", "text": "Hello {nmae}"})
    body = assert_problem(refused, 422, "invalid-value", "subject")
    fields = [e["field"] for e in body["errors"]]
    assert fields[0] == "subject" and "text" in fields
    assert any("did you mean {name}" in e["message"] for e in body["errors"])
    assert api.get(TEMPLATE).json()["source"] == "default"
    assert_problem(
        api.put(TEMPLATE, json={"subject": "x", "text": "{pin}", "html": "<p>no pin</p>"}),
        422,
        "invalid-value",
        "html",
    )
    assert_problem(api.put(TEMPLATE, json={"text": "{pin}"}), 422, "invalid-request", "subject")


def test_a_save_over_someone_elses_is_a_conflict(api: Api) -> None:
    """``expected`` is the template the edit began from: changed since, 409 and nothing saved."""
    started_from = {k: api.get(TEMPLATE).json()[k] for k in ("subject", "text", "html")}
    api.put(TEMPLATE, json=MINE)
    late = api.put(TEMPLATE, json={**MINE, "subject": "Late", "expected": started_from})
    assert_problem(late, 409, "conflict", "expected")
    assert api.get(TEMPLATE).json()["subject"] == MINE["subject"]
    current = {**MINE, "html": ""}
    ok = api.put(TEMPLATE, json={**MINE, "subject": "On time", "expected": current})
    assert ok.json()["changed"] == ["subject"]


def test_preview_shows_the_pin_to_an_operator_only(api: Api) -> None:
    """The preview holds the member's PIN: operator yes (not cached), readonly no."""
    api.admin.customers.add(NewCustomer("ana@example.com", "Ana", pin=PIN))
    refused = api.get(f"{TEMPLATE}/preview", Role.READONLY, params={"email": "ana@example.com"})
    assert_problem(refused, 403, "forbidden")
    assert_hidden(refused, PIN)
    preview = api.get(f"{TEMPLATE}/preview", Role.OPERATOR, params={"email": "ana@example.com"})
    assert preview.status_code == 200, preview.text
    assert PIN in preview.json()["text"] and "Ana" in preview.json()["text"]
    assert preview.json()["recipient"].endswith("<ana@example.com>")
    assert preview.headers["cache-control"] == "no-store"
    assert_problem(
        api.get(f"{TEMPLATE}/preview", Role.OPERATOR, params={"email": "zed@example.com"}),
        404,
        "not-found",
    )


def test_changes_are_the_admins(api: Api) -> None:
    """An operator may not save or reset the template."""
    assert_problem(api.put(TEMPLATE, Role.OPERATOR, json=MINE), 403, "forbidden")
    assert_problem(api.delete(TEMPLATE, Role.OPERATOR), 403, "forbidden")
