"""Staff pages beyond members: access points, the reminder template, live decisions.

Through FastAPI's TestClient with real session cookies and CSRF tokens, on both
back ends (SQLite and the real PostgreSQL). Refusals of anonymous browsers,
smaller roles and posts without a CSRF token are proven for every page by
test_pages_security.py's enumeration; here: what each page does, and that no
PIN or shared secret leaks where it should not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from radius_server.admin import open_sessions
from radius_server.admin.customers import NewCustomer
from radius_server.mail.template import DEFAULT_TEMPLATE, Template
from radius_server.rules.decision_log import DecisionRow
from radius_server.rules.roles import Role
from radius_server.rules.throttle import EventKind, ThrottleEvent
from radius_server.store.decisions import DecisionStore
from radius_server.store.throttle_log import ThrottleLog
from radius_server.web.pages.reasons import explain
from tests.integration.pages_support import PageSite, all_routes, csrf_of, page_site
from tests.integration.test_plan_store import seed_default_plan

PIN = "40517"
TYPED_SECRET = "typed-secret-9f3c1a7e55d2"
_HIDDEN = re.compile(r'<input type="hidden" name="(expected_\w+)" value="([^"]*)"')
_SECRET_LINE = re.compile(r'<span id="secret">([^<]+)</span>')


@pytest.fixture
def site(clean_db_url: str) -> Iterator[PageSite]:
    """The application on an emptied database (both back ends), a member with a known PIN."""
    with page_site(clean_db_url) as made:
        seed_default_plan(open_sessions(made.engine))
        made.admin.customers.add(NewCustomer("ana@example.com", "Ana", pin=PIN))
        yield made


def _post(client: TestClient, path: str, page: str, **data: str) -> Any:
    """Post a form as the browser would: with the CSRF token and hidden fields of its page."""
    html = client.get(page).text
    hidden = {name: unescape(value) for name, value in _HIDDEN.findall(html)}
    return client.post(path, data={**hidden, "csrf_token": csrf_of(html), **data})


# -- access points --------------------------------------------------------------------------


def test_an_admin_adds_an_access_point_and_sees_the_secret_once(site: PageSite) -> None:
    """Generated secret: on the answer to the post (not cached), never on the list again."""
    admin = site.signed_in("admin@example.com", Role.ADMIN)
    with structlog.testing.capture_logs() as events:
        added = _post(
            admin,
            "/staff/access-points",
            "/staff/access-points",
            name="lobby",
            address="192.0.2.10",
            vendor="unifi",
            require_ma="yes",
        )
    assert added.status_code == 200, added.text
    assert added.headers["cache-control"] == "no-store"
    found = _SECRET_LINE.search(added.text)
    assert found is not None
    secret = found.group(1)
    assert secret == site.admin.clients.get("lobby").secret and len(secret) >= 20
    assert "UDP port 1812" in added.text and "UDP port 1813" in added.text
    assert "Message-Authenticator: required" in added.text
    listed = admin.get("/staff/access-points")
    assert listed.status_code == 200
    assert "lobby" in listed.text and "192.0.2.10" in listed.text and "unifi" in listed.text
    assert secret not in listed.text
    for role in (Role.READONLY, Role.OPERATOR):
        page = site.signed_in(f"{role.label}@example.com", role).get("/staff/access-points")
        assert "lobby" in page.text and secret not in page.text
        assert "Add an access point" not in page.text
    assert secret not in repr(events)
    record = site.admin.clients.get("lobby")
    assert (record.vendor, record.require_message_authenticator) == ("unifi", True)
    actors = {e.actor for e in site.admin.customers.history(20) if "lobby" in str(e.target)}
    assert actors == {"staff:admin@example.com"}


def test_a_typed_secret_and_refusals_next_to_their_field(site: PageSite) -> None:
    """A typed secret is kept; a missing name, a bad address, a taken name: the form again."""
    admin = site.signed_in("admin@example.com", Role.ADMIN)
    page = "/staff/access-points"
    missing = _post(admin, page, page, name="", address="", secret=TYPED_SECRET)
    assert missing.status_code == 422
    assert 'id="f-name-error"' in missing.text and 'id="f-address-error"' in missing.text
    bad = _post(admin, page, page, name="desk", address="not-an-address", secret=TYPED_SECRET)
    assert bad.status_code == 422 and 'id="f-address-error"' in bad.text
    assert TYPED_SECRET not in missing.text + bad.text  # a password field is never echoed
    vendor = _post(admin, page, page, name="desk", address="192.0.2.1", vendor="acme")
    assert vendor.status_code == 422 and 'id="f-vendor-error"' in vendor.text
    where = _post(admin, page, page, name="desk", address="192.0.2.1", location="Mars")
    assert where.status_code == 422 and 'id="f-location-error"' in where.text
    assert site.admin.clients.find() == []
    done = _post(admin, page, page, name="desk", address="192.0.2.0/28", secret=TYPED_SECRET)
    assert done.status_code == 200 and TYPED_SECRET in done.text
    # Message-Authenticator left unticked: optional, with the admin layer's warning.
    assert "Message-Authenticator: optional" in done.text and "Warning:" in done.text
    taken = _post(admin, page, page, name="desk", address="192.0.2.99", secret=TYPED_SECRET)
    assert taken.status_code == 422 and "exists" in taken.text
    assert TYPED_SECRET not in taken.text
    assert site.admin.clients.get("desk").secret == TYPED_SECRET
    assert [c.name for c in site.admin.clients.find()] == ["desk"]


# -- reminder template ----------------------------------------------------------------------


def test_readonly_reads_the_template_without_editing_or_previewing(site: PageSite) -> None:
    """No Save, no Preview, no reset; the wording is shown."""
    page = site.signed_in("ro@example.com", Role.READONLY).get("/staff/template")
    assert page.status_code == 200
    assert "built-in default is in use" in page.text
    assert 'id="f-subject"' in page.text and "readonly" in page.text
    assert ">Save<" not in page.text and ">Preview<" not in page.text
    assert 'id="preview"' not in page.text


def test_an_operator_previews_for_a_member_and_sees_the_pin(site: PageSite) -> None:
    """The template in use, whatever the form says; the PIN is in the preview, not the logs."""
    operator = site.signed_in("op@example.com", Role.OPERATOR)
    page = operator.get("/staff/template")
    assert ">Preview<" in page.text and ">Save<" not in page.text
    with structlog.testing.capture_logs() as events:
        shown = _post(
            operator,
            "/staff/template/preview",
            "/staff/template",
            email="ana@example.com",
            subject="Forged {pin}",
            text="Not saved",
        )
    assert shown.status_code == 200, shown.text
    assert PIN in shown.text and "ana@example.com" in shown.text
    assert "Forged" not in shown.text  # an operator previews the template in use
    assert shown.headers["cache-control"] == "no-store"
    assert PIN not in repr(events)
    unknown = _post(
        operator, "/staff/template/preview", "/staff/template", email="nobody@example.com"
    )
    assert unknown.status_code == 422 and "nobody@example.com" in unknown.text
    assert PIN not in unknown.text


def test_an_admin_edits_with_errors_next_to_each_field(site: PageSite) -> None:
    """Placeholder problems per field, nothing saved; a preview of the typed edit; then saved."""
    admin = site.signed_in("admin@example.com", Role.ADMIN)
    refused = _post(
        admin,
        "/staff/template",
        "/staff/template",
        subject="PIN {pin}",
        text="Hello {nmae}",
        html="<p>no pin</p>",
    )
    assert refused.status_code == 422
    errors = dict(re.findall(r'<p class="error" id="f-(\w+)-error">([^<]+)</p>', refused.text))
    assert set(errors) == {"subject", "text", "html"}
    assert "did you mean {name}" in errors["text"]
    assert "Hello {nmae}" in refused.text  # the edit is kept in the form
    assert site.admin.templates.get().is_default
    typed = {"subject": "Wi-Fi at {space_name}", "text": "Hi {name},\r\nyour PIN is {pin}."}
    preview = _post(
        admin, "/staff/template/preview", "/staff/template", email="ana@example.com", **typed
    )
    assert preview.status_code == 200
    assert f"Hi Ana,\nyour PIN is {PIN}." in preview.text
    assert site.admin.templates.get().is_default  # a preview saves nothing
    saved = _post(admin, "/staff/template", "/staff/template", **typed)
    assert saved.status_code == 303 and saved.headers["location"] == "/staff/template?done=saved"
    stored = site.admin.templates.get()
    assert (stored.template.text, stored.updated_by) == (
        "Hi {name},\nyour PIN is {pin}.",
        "staff:admin@example.com",
    )
    assert "The template is saved." in admin.get(saved.headers["location"]).text
    # Reset to the default.
    reset = _post(admin, "/staff/template/reset", "/staff/template")
    assert reset.status_code == 303 and reset.headers["location"].endswith("done=reset")
    assert site.admin.templates.get().template == DEFAULT_TEMPLATE


def test_a_save_over_someone_elses_is_a_conflict(site: PageSite) -> None:
    """The form carries what it started from: another save in between -> 409, nothing lost."""
    ann = site.signed_in("ann@example.com", Role.ADMIN)
    bob = site.signed_in("bob@example.com", Role.ADMIN)
    ann_form = ann.get("/staff/template").text
    bob_form = bob.get("/staff/template").text

    def fields(html: str, **typed: str) -> dict[str, str]:
        hidden = {name: unescape(value) for name, value in _HIDDEN.findall(html)}
        return {"csrf_token": csrf_of(html), **hidden, **typed}

    mine = {"subject": "Bob's", "text": "PIN {pin}"}
    assert bob.post("/staff/template", data=fields(bob_form, **mine)).status_code == 303
    late = ann.post(
        "/staff/template", data=fields(ann_form, subject="Ann's", text="Your PIN: {pin}")
    )
    assert late.status_code == 409
    assert "Someone else saved the template by staff:bob@example.com" in late.text
    assert "Your PIN: {pin}" in late.text  # Ann's edit is still in her form
    assert site.admin.templates.get().template.subject == "Bob's"
    # Saving again from the conflict page replaces Bob's, knowingly.
    again = ann.post("/staff/template", data=fields(late.text, subject="Ann's", text="{pin}"))
    assert again.status_code == 303
    assert site.admin.templates.get().template.subject == "Ann's"


# -- live decisions -------------------------------------------------------------------------


def _decision(
    at: float, user: str, outcome: str, reason: str, client: str, customer: int | None = None
) -> DecisionRow:
    return DecisionRow(
        at=at,
        user_name=user,
        customer_id=customer,
        client_name=client,
        calling_station="02-00-00-00-00-01",
        method="pap",
        outcome=outcome,
        reason=reason,
        plan=None,
    )


_CELL = re.compile(r"<td>(.*?)</td>", re.S)


def _table(html: str) -> list[list[list[str]]]:
    """The decisions table's rows, each cell's text (tags dropped)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", " ", c)).split()
            for c in re.findall(r"<td>(.*?)</td>", r, re.S)
        ]
        for r in rows
    ]  # type: ignore[misc]


def test_live_decisions_newest_first_explained_and_filtered(site: PageSite) -> None:
    """Every role reads them; each reason with its sentence; filters by member and AP."""
    now = time.time()
    ana = site.admin.customers.get("ana@example.com").id
    DecisionStore(open_sessions(site.engine)).write(
        [
            _decision(now - 30, "ana@example.com", "reject", "wrong_pin", "lobby"),
            _decision(now - 20, "bob@example.com", "reject", "expired", "cafe"),
            _decision(now - 10, "ana@example.com", "accept", "ok", "lobby", ana),
            _decision(now - 5, "cy@example.com", "reject", "outside_hours", "cafe"),
        ],
        "host:1",
        {},
    )
    client = site.signed_in("ro@example.com", Role.READONLY)
    page = client.get("/staff/decisions")
    assert page.status_code == 200 and "<h1>Live decisions</h1>" in page.text
    rows = _table(page.text)
    assert [r[1] for r in rows] == [
        ["cy@example.com"],
        ["ana@example.com"],
        ["bob@example.com"],
        ["ana@example.com"],
    ]
    assert [" ".join(r[4]) for r in rows] == ["refused", "accepted", "refused", "refused"]
    text = unescape(page.text)
    assert "Outside the hours the member's plan allows." in text
    assert "The member's access has expired" in text
    assert "Wrong PIN." in text
    assert 'http-equiv="refresh"' not in page.text
    # A member's email opens their page; what a device sent for no member is plain text.
    assert page.text.count('<a href="/staff/members/ana%40example.com">') == 1
    assert "/staff/members/bob" not in page.text
    ana = _table(client.get("/staff/decisions", params={"member": "ANA@example.com "}).text)
    assert [" ".join(r[5]) for r in ana] == [
        "ok " + " ".join(explain("ok").split()),
        "wrong_pin " + " ".join(explain("wrong_pin").split()),
    ]
    cafe = _table(client.get("/staff/decisions", params={"access_point": "cafe"}).text)
    assert [r[1] for r in cafe] == [["cy@example.com"], ["bob@example.com"]]
    refused = client.get("/staff/decisions", params={"outcome": "reject", "access_point": "lobby"})
    assert [r[1] for r in _table(refused.text)] == [["ana@example.com"]]
    assert client.get("/staff/decisions", params={"outcome": "maybe"}).status_code == 422
    none = client.get("/staff/decisions", params={"member": "nobody@example.com"})
    assert "No sign-in matches these filters." in none.text
    live = client.get("/staff/decisions", params={"refresh": "1"})
    assert '<meta http-equiv="refresh" content="10">' in live.text
    assert "stop refreshing" in live.text


def test_live_decisions_are_paginated(site: PageSite) -> None:
    """50 a page, newest first; Older goes on where the page ended, Newest comes back."""
    now = time.time()
    DecisionStore(open_sessions(site.engine)).write(
        [
            _decision(now - 100 + n, f"m{n:02d}@example.com", "accept", "ok", "lobby")
            for n in range(55)
        ],
        "host:1",
        {},
    )
    client = site.signed_in("ro@example.com", Role.READONLY)
    first = client.get("/staff/decisions", params={"access_point": "lobby"})
    rows = _table(first.text)
    assert len(rows) == 50 and rows[0][1] == ["m54@example.com"]
    older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', first.text)
    assert older is not None and "access_point=lobby" in older.group(1)
    second = client.get(unescape(older.group(1)))
    assert [r[1] for r in _table(second.text)] == [
        [f"m{n:02d}@example.com"] for n in range(4, -1, -1)
    ]
    assert 'rel="next"' not in second.text and ">Newest</a>" in second.text
    assert client.get("/staff/decisions", params={"before": "0"}).status_code == 422


def test_a_lockout_says_when_it_clears(site: PageSite) -> None:
    """A member locked by guessing protection: the sentence names the end of the lock."""
    now = time.time()
    events = [
        ThrottleEvent(
            EventKind.FAILURE,
            now - 60 + n,
            "ana@example.com",
            device=f"02:00:00:00:00:{n:02x}",
            fingerprint=bytes([n]) * 16,
        )
        for n in range(12)
    ]
    sessions = open_sessions(site.engine)
    log = ThrottleLog(sessions, "host:1")
    with sessions() as session:
        log.add(session, events)
        session.commit()
    assert any(lock.key == "ana@example.com" for lock in site.admin.guessing.lockouts().locks)
    DecisionStore(sessions).write(
        [_decision(now, "ana@example.com", "reject", "locked_out", "lobby")], "host:1", {}
    )
    page = site.signed_in("ro@example.com", Role.READONLY).get("/staff/decisions")
    assert "Locked out by guessing protection" in page.text
    assert "It clears at " in page.text


# -- locks ----------------------------------------------------------------------------------

# Each page of this module and the smallest role that opens it (as the API's routes).
ROLES = {
    ("GET", "/staff/access-points"): Role.READONLY,
    ("POST", "/staff/access-points"): Role.ADMIN,
    ("GET", "/staff/template"): Role.READONLY,
    ("POST", "/staff/template"): Role.ADMIN,
    ("POST", "/staff/template/preview"): Role.OPERATOR,
    ("POST", "/staff/template/reset"): Role.ADMIN,
    ("GET", "/staff/decisions"): Role.READONLY,
}


def test_each_page_takes_the_role_of_its_api(site: PageSite) -> None:
    """The enumeration of test_pages_security.py sees these pages with these roles."""
    found = {}
    for path, route in all_routes(site.app.routes):
        for method in route.methods or ():
            roles = [d.call.role for d in route.dependant.dependencies if hasattr(d.call, "role")]
            found[(method, path)] = roles
    for key, role in ROLES.items():
        assert found[key] == [role], key


def test_forms_without_the_csrf_token_do_nothing(site: PageSite) -> None:
    """An admin's browser tricked into posting: 403 for every form, nothing changed."""
    admin = site.signed_in("admin@example.com", Role.ADMIN)
    forms = {
        "/staff/access-points": {"name": "evil", "address": "192.0.2.66"},
        "/staff/template": {"subject": "Evil", "text": "{pin}"},
        "/staff/template/preview": {"email": "ana@example.com"},
        "/staff/template/reset": {},
    }
    site.admin.templates.save(Template("Ours", "PIN {pin}"), via="test")
    for path, data in forms.items():
        for token in (None, "", "forged-token-" * 3):
            sent = data if token is None else {**data, "csrf_token": token}
            refused = admin.post(path, data=sent)
            assert refused.status_code == 403, (path, token)
            assert PIN not in refused.text
    assert site.admin.clients.find() == []
    assert site.admin.templates.get().template.subject == "Ours"


def test_the_secret_is_on_the_add_answer_and_no_other_page(site: PageSite) -> None:
    """Every staff page an admin may open, after the add: none shows the secret."""
    admin = site.signed_in("admin@example.com", Role.ADMIN)
    added = _post(
        admin, "/staff/access-points", "/staff/access-points", name="lobby", address="192.0.2.10"
    )
    secret = site.admin.clients.get("lobby").secret
    assert secret in added.text
    pages = [
        path
        for path, route in all_routes(site.app.routes)
        if path.startswith("/staff") and "GET" in (route.methods or ()) and "{" not in path
    ]
    assert {"/staff/access-points", "/staff/decisions", "/staff/template"} <= set(pages)
    for path in pages:
        assert secret not in admin.get(path, params={"access_point": "lobby"}).text, path
    assert secret not in admin.get("/staff/no-such-page").text
