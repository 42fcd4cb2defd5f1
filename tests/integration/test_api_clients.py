"""``/api/v1/clients``: RADIUS clients over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from radius_server.rules.roles import Role
from tests.integration.api_fixtures import Api, api, api_factory, assert_hidden, assert_problem

__all__ = ["api", "api_factory"]

CLIENTS = "/api/v1/clients"
STRONG = "Zq8pW2nR5tY7uI9oP1aS3dF6"


def test_create_returns_the_generated_secret_once(api: Api) -> None:
    """The create answer carries the secret (not cached); reads never do, but an admin's ask."""
    created = api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert len(secret) == 33 and secret.isalnum()
    assert body["warnings"] == []
    assert body["address"] == "10.0.0.1/32"
    assert body["require_message_authenticator"] is True
    assert created.headers["cache-control"] == "no-store"
    for role in Role:
        listed = api.get(CLIENTS, role)
        assert [c["name"] for c in listed.json()] == ["ap-1"]
        assert_hidden(listed, secret)
        assert_hidden(api.get(f"{CLIENTS}/ap-1", role), secret)
    shown = api.get(f"{CLIENTS}/ap-1", params={"include_secret": "true"})
    assert shown.json()["secret"] == secret
    assert shown.headers["cache-control"] == "no-store"
    audit = api.admin.customers.history(1)[0]
    assert (audit.actor, audit.action, audit.target) == ("token:test-admin", "nas.add", "ap-1")
    assert secret not in audit.details


def test_only_an_admin_asks_for_the_secret(api: Api) -> None:
    """include_secret from readonly or operator is a 403 naming the parameter."""
    api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1", "secret": STRONG})
    for role in (Role.READONLY, Role.OPERATOR):
        refused = api.get(f"{CLIENTS}/ap-1", role, params={"include_secret": "true"})
        assert_problem(refused, 403, "forbidden", field="include_secret")
        assert_hidden(refused, STRONG)


def test_changes_are_the_admins(api: Api) -> None:
    """Create, update, set-secret and remove refuse an operator token."""
    api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"})
    for method, path, body in (
        ("POST", CLIENTS, {"name": "ap-2", "address": "10.0.0.2"}),
        ("PATCH", f"{CLIENTS}/ap-1", {"address": "10.0.0.3"}),
        ("POST", f"{CLIENTS}/ap-1/secret", {}),
        ("DELETE", f"{CLIENTS}/ap-1", None),
    ):
        refused = api.request(method, path, Role.OPERATOR, json=body)
        assert_problem(refused, 403, "forbidden")
    assert [c.name for c in api.admin.clients.find()] == ["ap-1"]


def test_a_given_short_secret_is_kept_with_a_warning(api: Api) -> None:
    """A weak secret is the admin's call, but the answer says why it is weak."""
    created = api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1", "secret": "short"})
    assert created.status_code == 201
    assert created.json()["secret"] == "short"
    assert any("shorter than 16" in w for w in created.json()["warnings"])


def test_update_every_setting_and_clear_with_null(api: Api) -> None:
    """Address, MA policy, vendor, location, CoA; null clears the CoA port, secret, location."""
    api.admin.locations.add("Madrid")
    api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"})
    changed = api.patch(
        f"{CLIENTS}/ap-1",
        json={
            "address": "10.0.1.0/24",
            "require_message_authenticator": False,
            "vendor": "MikroTik",
            "location": "madrid",
            "coa": True,
            "coa_port": 3799,
            "coa_secret": STRONG,
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert_hidden(changed, STRONG)
    assert "secret" not in body or body["secret"] is None
    assert (body["address"], body["vendor"], body["location"]) == (
        "10.0.1.0/24",
        "mikrotik",
        "Madrid",
    )
    assert (body["coa"], body["coa_port"], body["coa_secret"]) == (True, 3799, "separate")
    assert body["require_message_authenticator"] is False
    assert body["warnings"], "turning Message-Authenticator off is warned about"
    cleared = api.patch(
        f"{CLIENTS}/ap-1", json={"coa_port": None, "coa_secret": None, "location": None}
    ).json()
    assert (cleared["coa_port"], cleared["coa_secret"], cleared["location"]) == (
        None,
        "RADIUS secret",
        None,
    )
    # Left out: unchanged.
    assert (cleared["address"], cleared["vendor"], cleared["coa"]) == (
        "10.0.1.0/24",
        "mikrotik",
        True,
    )


def test_set_secret_generates_or_takes_one(api: Api) -> None:
    """The answer carries the new secret; the old one is gone."""
    first = api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"}).json()["secret"]
    generated = api.post(f"{CLIENTS}/ap-1/secret")
    assert generated.status_code == 200, generated.text
    second = generated.json()["secret"]
    assert second != first and len(second) == 33
    given = api.post(f"{CLIENTS}/ap-1/secret", json={"secret": STRONG})
    assert given.json()["secret"] == STRONG
    assert api.admin.clients.get("ap-1").secret == STRONG


def test_remove(api: Api) -> None:
    """DELETE removes; a second is a 404 naming the client."""
    api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"})
    assert api.delete(f"{CLIENTS}/ap-1").json() == {"removed": "ap-1"}
    body = assert_problem(api.delete(f"{CLIENTS}/ap-1"), 404, "not-found")
    assert "ap-1" in body["detail"]
    assert_problem(api.get(f"{CLIENTS}/ap-1", Role.READONLY), 404, "not-found")


def test_bad_input_is_a_problem_and_writes_nothing(api: Api) -> None:
    """Bad address, taken name, unknown vendor or location, port out of range: nothing written."""
    api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"})
    base = {"name": "ap-2", "address": "10.0.0.2"}
    assert_problem(api.post(CLIENTS, json={**base, "address": "10.0.0.300"}), 422, "invalid-value")
    assert_problem(api.post(CLIENTS, json={**base, "name": "ap-1"}), 409, "already-exists")
    assert_problem(api.post(CLIENTS, json={**base, "vendor": "acme"}), 422, "invalid-value")
    assert_problem(api.post(CLIENTS, json={**base, "location": "Mars"}), 404, "not-found")
    assert_problem(
        api.post(CLIENTS, json={**base, "coa_port": 70000}), 422, "invalid-request", "coa_port"
    )
    assert_problem(api.post(CLIENTS, json={"name": "ap-2"}), 422, "invalid-request", "address")
    refused = api.post(CLIENTS, json={**base, "secret": " padded ", "vendor": "acme"})
    assert_hidden(refused, " padded ")
    assert [c.name for c in api.admin.clients.find()] == ["ap-1"]
    assert_problem(api.patch(f"{CLIENTS}/ap-9", json={"coa": True}), 404, "not-found")


def test_a_refused_update_changes_nothing(api: Api) -> None:
    """A good address beside an unknown vendor: 422, and the address is as it was."""
    api.post(CLIENTS, json={"name": "ap-1", "address": "10.0.0.1"})
    refused = api.patch(f"{CLIENTS}/ap-1", json={"address": "10.9.9.9", "vendor": "acme"})
    assert_problem(refused, 422, "invalid-value")
    assert api.get(f"{CLIENTS}/ap-1").json()["address"] == "10.0.0.1/32"
