"""The members pages through FastAPI's TestClient, on SQLite and the real PostgreSQL.

A real session cookie and CSRF token (pages_support.PageSite); reminders go to
a real SMTP server in the test process (aiosmtpd). Refusing anonymous browsers,
smaller roles and posts without a CSRF token is proven for every page by
test_pages_security.py, which enumerates the application's pages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from radius_server.admin.customers import NewCustomer
from radius_server.admin.plans import NewPlan
from radius_server.rules.roles import Role
from radius_server.rules.throttle import EventKind, ThrottleEvent
from radius_server.runtime.guard import throttle_settings
from radius_server.store.decisions import DecisionStore
from radius_server.store.journal import utcnow
from radius_server.store.models import AccountingSession
from radius_server.store.throttle_log import ThrottleLog
from radius_server.web.pages import member as member_page
from radius_server.web.pages import members as members_page
from tests.integration.pages_support import PageSite, csrf_of, page_site
from tests.integration.test_mail import MEMBERS, PINS, SENDER, Collector, Smtp, smtp_server
from tests.integration.test_plan_store import seed_default_plan

__all__ = ["smtp_server"]

ANA, BOB, CY = (email for email, _name, _pin in MEMBERS)
_RESULT_ROW = re.compile(r'<th scope="row"><a [^>]*>([^<]+)</a></th><td><span class="badge (\w+)"')
_MESSAGE = re.compile(r'<p class="message (notice|error)" role="(?:status|alert)">([^<]*)</p>')


@pytest.fixture
def smtp(smtp_server: Callable[..., Smtp]) -> Smtp:
    """An SMTP sink that refuses CY's address (550)."""
    return smtp_server(Collector(refuse={CY}))


@pytest.fixture
def site(clean_db_url: str, smtp: Smtp) -> Iterator[PageSite]:
    """The application on an emptied database with three members and the default plan."""
    with page_site(
        clean_db_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_sender_address=SENDER,
        smtp_rate_per_minute=60000,
        smtp_timeout=10.0,
    ) as made:
        seed_default_plan(made.admin.sessions)
        for email, name, pin in MEMBERS:
            made.admin.customers.add(NewCustomer(email=email, name=name, pin=pin))
        yield made


def _message(html: str) -> tuple[str, str] | None:
    found = _MESSAGE.search(html)
    return (found.group(1), unescape(found.group(2))) if found else None


def post(client: TestClient, path: str, page: str, **data: Any) -> Any:
    """Post a form of ``page`` (its CSRF token) to ``path``."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data})


def follow(client: TestClient, response: Any) -> Any:
    """After a 303: the page it leads to."""
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"])


def test_the_table_lists_searches_and_pages(
    site: PageSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every column; search by part of a name; keyset pages; no PIN in the table."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    page = client.get("/staff/members")
    assert page.status_code == 200
    for header in ("Email", "Name", "Status", "Wi-Fi", "Plan", "Last sign-in", "Online devices"):
        assert f'<th scope="col">{header}</th>' in page.text
    assert all(email in page.text for email in PINS)
    assert not any(pin in page.text for pin in PINS.values())
    assert "<caption>" in page.text and 'aria-label="Pages of members"' in page.text
    found = client.get("/staff/members", params={"q": "stone"})
    assert BOB in found.text and ANA not in found.text
    monkeypatch.setattr(members_page, "PAGE_SIZE", 2)
    first = client.get("/staff/members")
    assert ANA in first.text and BOB in first.text and CY not in first.text
    nxt = re.search(r'href="(/staff/members\?[^"]*after=[^"]*)" rel="next"', first.text)
    assert nxt is not None
    second = client.get(nxt.group(1).replace("&amp;", "&"))
    assert CY in second.text and ANA not in second.text and 'rel="next"' not in second.text
    site.admin.customers.update(CY, members_page.CustomerUpdate(active=False))
    disabled = client.get("/staff/members", params={"status": "disabled"})
    assert CY in disabled.text and ANA not in disabled.text


def test_readonly_sees_members_but_no_pin_and_no_forms(site: PageSite) -> None:
    """No checkboxes, no buttons, "hidden" where the PIN would be."""
    client = site.signed_in("ro@example.com", Role.READONLY)
    table = client.get("/staff/members")
    assert 'type="checkbox"' not in table.text and "Send PIN reminder" not in table.text
    page = client.get(f"/staff/members/{ANA}")
    assert page.status_code == 200
    assert 'id="pin">hidden<' in page.text and PINS[ANA] not in page.text
    assert "Change PIN" not in page.text and 'method="post" action="/staff/members' not in page.text
    assert client.get("/staff/members/new").status_code == 403
    operator = site.signed_in("op@example.com", Role.OPERATOR)
    page = operator.get(f"/staff/members/{ANA}").text
    assert f'id="pin">{PINS[ANA]}<' in page
    # The browser checks the format before sending (the server checks it anyway).
    assert 'inputmode="numeric" pattern="[0-9]{5}" maxlength="5"' in page


def test_edit_pin_then_redirect_with_a_message_shown_once(site: PageSite) -> None:
    """303 back to the member's page; the message once; a conflict named, no PIN in it."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    page = f"/staff/members/{ANA}"
    changed = post(client, f"{page}/pin", page, pin="70531")
    assert changed.headers["location"] == page
    after = follow(client, changed)
    assert _message(after.text) == (
        "notice",
        "PIN changed. Devices signed in with the old one are sent away.",
    )
    assert 'id="pin">70531<' in after.text
    assert _message(client.get(page).text) is None  # a reload: no message, nothing redone
    assert site.admin.customers.get(ANA).pin == "70531"
    # Bob's PIN: refused, named by its holder, the PIN itself never shown.
    with structlog.testing.capture_logs() as events:
        refused = follow(client, post(client, f"{page}/pin", page, pin=PINS[BOB]))
    kind, text = _message(refused.text) or ("", "")
    assert kind == "error" and "already used by" in text and BOB in text
    assert PINS[BOB] not in refused.text and PINS[BOB] not in repr(events)
    bad = follow(client, post(client, f"{page}/pin", page, pin="12"))
    assert _message(bad.text) == (
        "error",
        "The PIN was not changed. A PIN must be exactly 5 digits (0-9).",
    )
    regenerated = follow(client, post(client, f"{page}/pin/regenerate", page))
    assert "New PIN drawn" in regenerated.text
    assert site.admin.customers.get(ANA).pin not in ("70531", PINS[ANA])
    actions = [e.action for e in site.admin.customers.history(10, ANA)]
    assert actions[:2] == ["customer.regenerate_pin", "customer.set_pin"]
    assert all(e.actor == "staff:op@example.com" for e in site.admin.customers.history(2, ANA))


def test_status_access_plan_and_lockout_forms(site: PageSite) -> None:
    """Disable/enable; Wi-Fi, dates and plan in one form; a bad date changes nothing."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    page = f"/staff/members/{BOB}"
    follow(client, post(client, f"{page}/status", page, active="0"))
    assert site.admin.customers.get(BOB).active is False
    follow(client, post(client, f"{page}/status", page, active="1"))
    assert site.admin.customers.get(BOB).active is True
    saved = follow(
        client,
        post(
            client,
            f"{page}/access",
            page,
            valid_from="2026-01-01",
            valid_until="2027-06-30",
            valid_from_was="",
            valid_until_was="",
            plan="default",
        ),
    )
    assert _message(saved.text) == ("notice", "Access saved.")
    record = site.admin.customers.get(BOB)
    assert record.wifi_access is False  # the box was not ticked
    assert "<dt>Wi-Fi</dt><dd>no</dd>" in saved.text
    assert 'value="2027-06-30"' in saved.text
    refused = follow(
        client,
        post(client, f"{page}/access", page, wifi_access="1", valid_until="30/06/2027"),
    )
    assert _message(refused.text) == (
        "error",
        "Nothing changed. Valid until: a date like 2026-12-31.",
    )
    assert site.admin.customers.get(BOB).wifi_access is False
    # Dates shown as they were are left alone; cleared ones are cleared.
    follow(
        client,
        post(
            client,
            f"{page}/access",
            page,
            wifi_access="1",
            valid_from="2026-01-01",
            valid_from_was="2026-01-01",
            valid_until="",
            valid_until_was="2027-06-30",
            plan="default",
        ),
    )
    record = site.admin.customers.get(BOB)
    assert record.wifi_access and record.valid_from is not None and record.valid_until is None
    cleared = follow(client, post(client, f"{page}/lockout/clear", page))
    assert "Lockout cleared" in cleared.text
    assert site.admin.customers.history(1, BOB)[0].action == "lockout.clear"
    nothing = follow(client, post(client, f"{page}/disconnect", page))
    assert (_message(nothing.text) or ("",))[0] == "error"
    assert "Not disconnected." in nothing.text


def test_bulk_disable_enable_and_nothing_ticked(site: PageSite) -> None:
    """The ticked members change; the table says how many; nothing ticked: a message."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    done = post(client, "/staff/members/bulk", "/staff/members", action="disable", email=[ANA, BOB])
    assert done.headers["location"] == "/staff/members"
    assert _message(follow(client, done).text) == ("notice", "Disabled 2 of 2 members.")
    assert not site.admin.customers.get(ANA).active and site.admin.customers.get(CY).active
    back = "/staff/members?q=ana"
    again = post(client, "/staff/members/bulk", back, action="enable", email=[ANA], back=back)
    assert again.headers["location"] == back
    assert site.admin.customers.get(ANA).active
    none = post(client, "/staff/members/bulk", "/staff/members", action="disable")
    assert _message(follow(client, none).text)[0] == "error"  # type: ignore[index]
    odd = post(client, "/staff/members/bulk", "/staff/members", action="explode", email=[ANA])
    assert "Choose an action" in follow(client, odd).text


def test_reminders_confirm_then_per_member_results(site: PageSite, smtp: Smtp) -> None:
    """The confirmation names how many; "Yes, do it" sends; sent / failed / results."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    ticked = [ANA, BOB, CY]
    confirm = post(client, "/staff/members/bulk", "/staff/members", action="remind", email=ticked)
    assert confirm.status_code == 200
    assert "to <strong>3 members</strong>?" in confirm.text and "Yes, do it" in confirm.text
    assert smtp.handler.received == []  # nothing sent before the confirmation
    with structlog.testing.capture_logs() as events:
        sent = client.post(
            "/staff/members/remind", data={"csrf_token": csrf_of(confirm.text), "email": ticked}
        )
    assert sent.headers["location"] == "/staff/members/reminders"
    results = follow(client, sent)
    assert _message(results.text) == ("error", "Reminders: 2 sent, 1 failed, 0 skipped.")
    rows = re.findall(
        r'<th scope="row"><a [^>]*>([^<]+)</a></th><td><span class="badge (\w+)"', results.text
    )
    assert rows == [(ANA, "sent"), (BOB, "sent"), (CY, "failed")]
    for email in (ANA, BOB):
        assert PINS[email] in smtp.handler.to(email).message.get_content()
    text = results.text + repr(events)
    assert not any(pin in text for pin in PINS.values())
    # Shown once: a reload of the results page has none, and nothing is sent again.
    assert "No results to show" in client.get("/staff/members/reminders").text
    assert len(smtp.handler.received) == 2


def test_reminder_for_an_unknown_member_sends_none(site: PageSite, smtp: Smtp) -> None:
    """One unknown email refuses the batch (as the CLI and the API do)."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    page = client.get("/staff/members")
    refused = client.post(
        "/staff/members/remind",
        data={"csrf_token": csrf_of(page.text), "email": [ANA, "nobody@example.com"]},
    )
    message = _message(follow(client, refused).text)
    assert message is not None and message[0] == "error" and "No reminder sent." in message[1]
    assert smtp.handler.received == []


def test_add_and_remove_a_member(site: PageSite) -> None:
    """Add (errors keep the form, never the PIN); remove only after "Yes, remove"."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    form = "/staff/members/new"
    refused = post(client, form, form, email="dee@example.com", name="Dee", pin=PINS[ANA])
    assert refused.status_code == 422
    assert "already used by" in refused.text and 'value="Dee"' in refused.text
    assert PINS[ANA] not in refused.text
    added = post(client, form, form, email="Dee@Example.com", name="Dee", pin="", wifi_access="1")
    assert added.headers["location"] == "/staff/members/dee@example.com"
    page = follow(client, added)
    assert _message(page.text) == ("notice", "Added dee@example.com.")
    assert re.search(r'id="pin">\d{5}<', page.text)
    confirm = client.get("/staff/members/dee@example.com/remove")
    assert confirm.status_code == 200 and "Yes, remove" in confirm.text
    assert site.admin.customers.get("dee@example.com")  # a GET removes nothing
    gone = client.post(
        "/staff/members/dee@example.com/remove", data={"csrf_token": csrf_of(confirm.text)}
    )
    assert _message(follow(client, gone).text) == ("notice", "Removed dee@example.com.")
    assert client.get("/staff/members/dee@example.com").status_code == 404


def test_csrf_missing_changes_nothing(site: PageSite) -> None:
    """Each member form without its token: 403, the member as before."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    for path, data in (
        (f"/staff/members/{ANA}/pin", {"pin": "70531"}),
        (f"/staff/members/{ANA}/status", {"active": "0"}),
        (f"/staff/members/{ANA}/remove", {}),
        ("/staff/members/bulk", {"action": "disable", "email": ANA}),
        ("/staff/members/remind", {"email": ANA}),
    ):
        assert client.post(path, data=data).status_code == 403, path
    record = site.admin.customers.get(ANA)
    assert record.pin == PINS[ANA] and record.active


def test_unknown_member_pages_are_404_pages_without_a_pin(site: PageSite) -> None:
    """HTML 404; a form post for an unknown member: a message, not a crash."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    missing = client.get("/staff/members/nobody@example.com")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    page = "/staff/members/nobody@example.com"
    token = csrf_of(client.get("/staff/members").text)
    answer = client.post(f"{page}/pin", data={"csrf_token": token, "pin": "70531"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/staff/members"  # no page to go back to
    message = _message(follow(client, answer).text)
    assert message == (
        "error",
        "The PIN was not changed. No customer with email nobody@example.com.",
    )


def _open_session(site: PageSite, key: str, email: str, station: str) -> int:
    """An open accounting session of ``email`` (as a NAS's Start would leave it)."""
    now = utcnow()
    with site.admin.sessions() as session:
        row = AccountingSession(
            unique_key=key,
            client_name="lobby",
            nas_address="192.0.2.1",
            acct_session_id=key,
            user_name=email,
            member_email=email,
            customer_id=site.admin.customers.get(email).id,
            calling_station_id=station,
            started_at=now,
            updated_at=now,
            changed_at=now,
        )
        session.add(row)
        session.commit()
        return int(row.id)


def test_activity_devices_online_and_disconnect(
    site: PageSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Last sign-in and devices online from the decisions summary; "Disconnect" queues a job."""
    ana_id = site.admin.customers.get(ANA).id
    DecisionStore(site.admin.sessions).write([], "host:1", {ana_id: 1_800_000_000.0})
    ana_session = _open_session(site, "k1", ANA, "aa-bb-cc-00-00-01")
    _open_session(site, "k2", ANA, "aa-bb-cc-00-00-02")
    bob_session = _open_session(site, "k3", BOB, "aa-bb-cc-00-00-03")
    client = site.signed_in("op@example.com", Role.OPERATOR)
    table = client.get("/staff/members").text
    row = re.search(rf"{re.escape(ANA)}</a></th>(.*?)</tr>", table, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[-2:] == ["2027-01-15 08:00", "2"]  # UTC: the default time zone
    page = f"/staff/members/{ANA}"
    shown = client.get(page).text
    assert "aa-bb-cc-00-00-01" in shown and "aa-bb-cc-00-00-03" not in shown
    assert 'aria-label="Disconnect the device aa-bb-cc-00-00-01"' in shown
    # Bob's session through Ana's page: refused, nothing queued.
    other = follow(client, post(client, f"{page}/disconnect", page, session=str(bob_session)))
    assert _message(other.text) == (
        "error",
        "Not disconnected. That session is not one of this member's.",
    )
    monkeypatch.setattr(member_page, "DISCONNECT_WAIT", 0.2)
    queued = follow(client, post(client, f"{page}/disconnect", page, session=str(ana_session)))
    kind, text = _message(queued.text) or ("", "")
    assert kind == "notice" and text.startswith(
        f"Disconnect of session {ana_session} queued as job"
    )
    assert "no server picked it up within 0.2 s" in text
    assert site.admin.customers.history(1, ANA)[0].action == "session.disconnect"


def test_no_pin_in_any_log_line_or_error_page(site: PageSite, smtp: Smtp) -> None:
    """Every member form, refused and accepted: no PIN in a log event or an error page."""
    client = site.signed_in("op@example.com", Role.OPERATOR)
    page = f"/staff/members/{ANA}"
    typed = ["70531", PINS[BOB], "1234x", "99999"]
    with structlog.testing.capture_logs() as events:
        answers = [
            post(client, f"{page}/pin", page, pin=typed[0]),
            post(client, f"{page}/pin", page, pin=typed[1]),  # Bob's: refused
            post(client, f"{page}/pin", page, pin=typed[2]),  # not 5 digits
            post(client, "/staff/members/new", "/staff/members", email="x", pin=typed[3]),
            post(client, "/staff/members/new", "/staff/members", email=CY, pin=typed[3]),
            post(client, f"{page}/pin/regenerate", page),
            post(client, "/staff/members/remind", "/staff/members", email=[ANA, CY]),
            client.get("/staff/members/nobody@example.com"),
            client.post(f"{page}/pin", data={"pin": typed[3]}),  # no CSRF token
        ]
        shown = [client.get(a.headers["location"]) for a in answers if a.status_code == 303]
    current = site.admin.customers.get(ANA).pin
    errors = [a for a in answers + shown if a.status_code >= 400]
    assert {a.status_code for a in errors} == {403, 404, 422}
    assert events and any(e.get("event") == "web_reminders" for e in events)
    text = repr(events) + "".join(a.text for a in errors)
    assert not any(pin in text for pin in {*PINS.values(), *typed, current})
    # The emails carried the PINs; nothing else did.
    assert current in smtp.handler.to(ANA).message.get_content()


def test_odd_searches_are_answered_not_crashed(site: PageSite) -> None:
    """Wildcards, quotes, an unknown status, a cursor past the end, an over-long query."""
    client = site.signed_in("ro@example.com", Role.READONLY)
    for params in (
        {"q": "%"},
        {"q": "_"},
        {"q": "' OR 1=1 --"},
        {"q": "é\u0000"},
        {"status": "bogus"},
        {"after": "zzz@example.com"},
    ):
        answer = client.get("/staff/members", params=params)
        assert answer.status_code == 200, params
    assert "No members" in client.get("/staff/members", params={"q": "%"}).text
    assert ANA in client.get("/staff/members", params={"status": "bogus"}).text
    too_long = client.get("/staff/members", params={"q": "x" * 201})
    assert too_long.status_code == 422 and "text/html" in too_long.headers["content-type"]


def test_plan_chosen_from_the_list_and_history_shown(site: PageSite) -> None:
    """The plan select lists every plan; choosing one moves the member; history on the page."""
    site.admin.plans.add(NewPlan(name="Day pass"))
    client = site.signed_in("op@example.com", Role.OPERATOR)
    page = f"/staff/members/{CY}"
    form = client.get(page).text
    assert '<option value="default" selected>the default plan</option>' in form
    assert '<option value="Day pass">Day pass</option>' in form
    data = {"wifi_access": "1", "plan": "Day pass"}
    moved = follow(client, post(client, f"{page}/access", page, **data))
    assert '<option value="Day pass" selected>Day pass</option>' in moved.text
    assert "<dt>Plan</dt><dd>Day pass</dd>" in moved.text
    table = client.get("/staff/members", params={"q": "cy@"}).text
    assert "<td>Day pass</td>" in table
    history = re.search(r'<section aria-labelledby="h-history">(.*?)</section>', moved.text, re.S)
    assert history is not None
    assert "staff:op@example.com" in history.group(1) and "customer.update" in history.group(1)
    assert "customer.add" in history.group(1)
    back = follow(client, post(client, f"{page}/access", page, wifi_access="1", plan="default"))
    assert "<dt>Plan</dt><dd>default</dd>" in back.text


def test_a_locked_member_is_shown_locked_and_cleared(site: PageSite) -> None:
    """Wrong PINs from unknown devices past the budget (as a server logs them): locked; Clear."""
    now, budget = time.time(), throttle_settings(site.settings).user_budget
    ThrottleLog(site.admin.sessions, "server-a").append(
        [
            ThrottleEvent(EventKind.FAILURE, now - 10 + i / 10, BOB, fingerprint=bytes([i]))
            for i in range(budget + 1)
        ]
    )
    readonly = site.signed_in("ro@example.com", Role.READONLY)
    page = f"/staff/members/{BOB}"
    seen = readonly.get(page).text
    assert "Locked out after wrong PINs, until " in seen and "Clear the lockout" not in seen
    client = site.signed_in("op@example.com", Role.OPERATOR)
    assert "Clear the lockout" in client.get(page).text
    cleared = follow(client, post(client, f"{page}/lockout/clear", page))
    assert _message(cleared.text) == ("notice", "Lockout cleared: they may try again now.")
    assert "<p>Not locked out.</p>" in cleared.text
    assert site.admin.guessing.lockouts().locks == ()
