"""``/api/v1/tokens``: create (shown once), list, revoke, over the API; SQLite and PostgreSQL."""

from __future__ import annotations

from radius_server.rules.roles import Role
from tests.integration.api_fixtures import Api, api, api_factory, assert_hidden, assert_problem

__all__ = ["api", "api_factory"]

TOKENS = "/api/v1/tokens"


def test_a_created_token_works_once_shown_and_stops_when_revoked(api: Api) -> None:
    """The value is in the create answer only; it authenticates; revoked, it is refused."""
    created = api.post(TOKENS, json={"name": "platform", "role": "operator"})
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith(body["prefix"]) and body["state"] == "active"
    assert created.headers["cache-control"] == "no-store"
    listed = api.get(TOKENS)
    assert_hidden(listed, token)
    by_name = {t["name"]: t for t in listed.json()}
    assert by_name["platform"]["role"] == "operator"
    assert by_name["platform"]["created_by"] == "token:test-admin"
    mine = api.client.get("/api/v1/lockouts", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    revoked = api.delete(f"{TOKENS}/platform")
    assert revoked.json()["state"] == "revoked"
    again = api.client.get("/api/v1/lockouts", headers={"Authorization": f"Bearer {token}"})
    assert_problem(again, 401, "unauthorized")


def test_tokens_are_the_admins(api: Api) -> None:
    """An operator token may not list, create or revoke tokens."""
    assert_problem(api.get(TOKENS, Role.OPERATOR), 403, "forbidden")
    assert_problem(
        api.post(TOKENS, Role.OPERATOR, json={"name": "x", "role": "admin"}), 403, "forbidden"
    )
    assert_problem(api.delete(f"{TOKENS}/test-admin", Role.OPERATOR), 403, "forbidden")


def test_bad_requests(api: Api) -> None:
    """Unknown role, past expiry, a taken name, an unknown token: problems naming what."""
    assert_problem(
        api.post(TOKENS, json={"name": "x", "role": "root"}), 422, "invalid-request", "role"
    )
    assert_problem(
        api.post(TOKENS, json={"name": "x", "role": "admin", "expires": "2001-01-01"}),
        422,
        "invalid-value",
    )
    assert_problem(
        api.post(TOKENS, json={"name": "test-admin", "role": "admin"}), 409, "already-exists"
    )
    assert_problem(api.delete(f"{TOKENS}/nobody"), 404, "not-found")
    expiring = api.post(TOKENS, json={"name": "temp", "role": "readonly", "expires": "2999-12-31"})
    # The last day is whole: it ends at the next midnight of the space (UTC here).
    assert expiring.json()["expires_at"] == "3000-01-01T00:00:00Z"
