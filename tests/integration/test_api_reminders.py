"""``/api/v1/reminders`` against a real SMTP server in the test process (aiosmtpd).

The server and its collector are test_mail's; the API runs in the TestClient on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from radius_server.admin.customers import CustomerUpdate, NewCustomer
from radius_server.rules.roles import Role
from tests.integration.api_fixtures import Api, api_factory, assert_hidden, assert_problem
from tests.integration.test_mail import MEMBERS, PINS, SENDER, Collector, Smtp, smtp_server

__all__ = ["api_factory", "smtp_server"]

REMINDERS = "/api/v1/reminders"
ANA, BOB, CY = (address for address, _, _ in MEMBERS)


def with_members(api: Api) -> Api:
    """test_mail's three members, with their fixed PINs."""
    for address, name, pin in MEMBERS:
        api.admin.customers.add(NewCustomer(address, name, pin=pin))
    return api


@pytest.fixture
def smtp(smtp_server: Callable[..., Smtp]) -> Smtp:
    """A test SMTP server refusing Cy's mailbox."""
    return smtp_server(Collector(refuse={CY}))


@pytest.fixture
def api(api_factory: Callable[..., Api], smtp: Smtp) -> Api:
    """The API sending through the test server."""
    return with_members(
        api_factory(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_security="none",
            smtp_sender_address=SENDER,
            smtp_rate_per_minute=60000,
            smtp_timeout=10.0,
            space_name="Hive",
        )
    )


def test_named_members_get_their_pin_and_the_answer_holds_none(api: Api, smtp: Smtp) -> None:
    """Per-member results: sent, or failed with the server's reason; each audited."""
    answer = api.post(REMINDERS, Role.OPERATOR, json={"emails": [ANA, BOB, CY]})
    assert answer.status_code == 200, answer.text
    assert_hidden(answer, *PINS.values())
    report = answer.json()
    assert (report["sent"], report["failed"], report["skipped"]) == (2, 1, 0)
    by_email = {r["email"]: r for r in report["results"]}
    assert by_email[ANA]["status"] == by_email[BOB]["status"] == "sent"
    assert by_email[CY]["status"] == "failed"
    assert "550" in (by_email[CY]["reason"] or "") + (by_email[CY]["error"] or "")
    assert PINS[ANA] in smtp.handler.to(ANA).message.get_content()
    trail = api.admin.customers.history(3)
    assert {(e.action, e.actor) for e in trail} == {
        ("customer.pin_reminder", "token:test-operator")
    }
    assert all('"via": "api"' in e.details for e in trail)


def test_filters_skip_named_members_with_a_reason(api: Api, smtp: Smtp) -> None:
    """A disabled member named with active_only is skipped, not mailed."""
    api.admin.customers.update(BOB, CustomerUpdate(active=False))
    report = api.post(REMINDERS, Role.OPERATOR, json={"emails": [ANA, BOB], "active_only": True})
    results = {r["email"]: (r["status"], r["reason"]) for r in report.json()["results"]}
    assert results == {ANA: ("sent", None), BOB: ("skipped", "disabled")}
    assert [r.rcpt_tos for r in smtp.handler.received] == [[ANA]]


def test_dry_run_sends_nothing(api: Api, smtp: Smtp) -> None:
    """Everyone active, as a dry run: who would get it and the subject; nothing sent."""
    api.admin.customers.update(CY, CustomerUpdate(active=False))
    answer = api.post(
        REMINDERS, Role.OPERATOR, json={"all": True, "active_only": True, "dry_run": True}
    )
    report = answer.json()
    assert_hidden(answer, *PINS.values())
    assert [(r["email"], r["status"]) for r in report["results"]] == [
        (ANA, "would_send"),
        (BOB, "would_send"),
    ]
    assert report["results"][0]["subject"] == "Your PIN for Hive"
    assert (report["dry_run"], report["sent"], report["sender"]) == (True, 0, f"Hive <{SENDER}>")
    assert smtp.handler.received == []


def test_refusals_send_nothing(api: Api, smtp: Smtp) -> None:
    """Readonly may not; one unknown email refuses all; emails and all together are refused."""
    assert_problem(api.post(REMINDERS, Role.READONLY, json={"emails": [ANA]}), 403, "forbidden")
    unknown = api.post(REMINDERS, Role.OPERATOR, json={"emails": [ANA, "zed@example.com"]})
    assert "zed@example.com" in assert_problem(unknown, 404, "not-found")["detail"]
    for body in ({"emails": [ANA], "all": True}, {}):
        assert_problem(
            api.post(REMINDERS, Role.OPERATOR, json=body), 422, "invalid-request", "emails"
        )
    assert smtp.handler.received == []


def test_without_smtp_settings_only_a_dry_run_goes_on(
    api_factory: Callable[..., Api],
) -> None:
    """No sender address: sending is a 422 naming the setting; a dry run warns and goes on."""
    api = with_members(api_factory())
    refused = api.post(REMINDERS, Role.OPERATOR, json={"emails": [ANA]})
    assert "smtp_sender_address" in assert_problem(refused, 422, "invalid-value")["detail"]
    dry = api.post(REMINDERS, Role.OPERATOR, json={"emails": [ANA], "dry_run": True}).json()
    assert dry["warnings"] and "sender-not-set@example.invalid" in dry["warnings"][0]
