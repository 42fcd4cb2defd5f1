"""The members' page (``/me/``) through FastAPI's TestClient, on SQLite and PostgreSQL.

Links are emailed through a real SMTP server in the test process (aiosmtpd,
test_mail's). EAP certificates are generated once per module the way
``radius-server certs generate`` writes them.
"""

from __future__ import annotations

import plistlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from radius_server.admin.customers import CustomerUpdate, NewCustomer
from radius_server.eap.certificates import fingerprint, generate
from radius_server.rules.roles import Role
from radius_server.store.journal import utcnow
from radius_server.store.models import SignInLink
from radius_server.store.sign_in_links import MEMBER_SIGN_IN
from radius_server.web.pages import MEMBER_PREFIX
from radius_server.web.pages.member_pages import (
    LINKS_PER_EMAIL,
    LINKS_PER_SOURCE,
    PUBLIC_MEMBER_PAGES,
    REMINDERS_PER_MEMBER,
)
from tests.integration.pages_support import PageSite, all_routes, csrf_of, page_site
from tests.integration.test_mail import SENDER, Collector, Smtp, smtp_server
from tests.integration.test_plan_store import seed_default_plan

__all__ = ["smtp_server"]

ANA, ANA_PIN = "ana@example.com", "40517"
BOB, BOB_PIN = "bob@example.com", "51234"
PUBLIC_URL = "https://wifi.hive.example"
SERVER_NAME = "radius.hive.example"
SSID = "Hive Members"
_LINK = re.compile(r"https://wifi\.hive\.example(/me/link\?token=[A-Za-z0-9_%-]+)")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a generated CA and server certificate (``certs/``)."""
    path = tmp_path_factory.mktemp("member-data")
    generate(path / "certs", SERVER_NAME, "Hive")
    return path


@pytest.fixture
def smtp(smtp_server: Callable[..., Smtp]) -> Smtp:
    """A test SMTP server that keeps every message."""
    return smtp_server(Collector())


def _site(url: str, data: Path, smtp: Smtp, **overrides: Any) -> Any:
    settings: dict[str, Any] = {
        "data_dir": str(data),
        "space_name": "Hive",
        "wifi_ssid": SSID,
        "web_public_url": PUBLIC_URL,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "smtp_sender_address": SENDER,
        "smtp_rate_per_minute": 60000,
        "smtp_timeout": 10.0,
    }
    settings.update(overrides)
    return page_site(url, **settings)


def _with_members(site: PageSite) -> PageSite:
    seed_default_plan(site.admin.sessions)
    site.admin.customers.add(NewCustomer(ANA, "Ana Lima", pin=ANA_PIN))
    site.admin.customers.add(NewCustomer(BOB, "Bob Stone", pin=BOB_PIN))
    return site


@pytest.fixture
def site(clean_db_url: str, data_dir: Path, smtp: Smtp) -> Iterator[PageSite]:
    """The application on an emptied database with Ana and Bob, EAP certificates, SMTP."""
    with _site(clean_db_url, data_dir, smtp) as made:
        yield _with_members(made)


def ask_link(client: TestClient, email: str) -> Any:
    """Post the email form as a browser would (GET it first for the CSRF cookie)."""
    form = client.get("/me/sign-in")
    assert form.status_code == 200, form.text
    return client.post("/me/sign-in", data={"email": email, "csrf_token": csrf_of(form.text)})


def link_in(smtp: Smtp, email: str, index: int = -1) -> str:
    """The path and query of the sign-in link in the ``index``-th message to ``email``."""
    messages = [r.message for r in smtp.handler.received if r.rcpt_tos == [email]]
    assert messages, f"no message to {email}"
    found = _LINK.search(messages[index].get_content())
    assert found is not None, messages[index].get_content()
    return found.group(1)


def use_link(client: TestClient, path: str) -> Any:
    """Open the link (GET), then press "Sign in" (POST with the token and the CSRF token)."""
    page = client.get(path)
    if page.status_code != 200:
        return page
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    return client.post("/me/link", data={"token": token.group(1), "csrf_token": csrf_of(page.text)})


def signed_in_member(site: PageSite, smtp: Smtp, email: str = ANA) -> TestClient:
    """A client signed in as the member ``email`` through the emailed link."""
    client = site.client()
    assert ask_link(client, email).status_code == 200
    done = use_link(client, link_in(smtp, email))
    assert done.status_code == 303 and done.headers["location"] == "/me/", done.text
    return client


def test_the_emailed_link_signs_in_once_and_shows_the_pin(site: PageSite, smtp: Smtp) -> None:
    """Email (no PIN) -> link page (not used by opening) -> Sign in -> the PIN; then refused."""
    client = site.client()
    asked = ask_link(client, " Ana@Example.com ")
    assert asked.status_code == 200
    assert "Check your email" in asked.text and ANA_PIN not in asked.text
    message = smtp.handler.to(ANA).message
    assert message["From"].addresses[0].addr_spec == SENDER
    assert "Hive" in message["Subject"]
    body = message.get_content()
    assert ANA_PIN not in body and "15 minutes" in body
    path = link_in(smtp, ANA)

    # Opening the link (a mail scanner, a preview) twice does not use it.
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200
        assert ">Sign in</button>" in page.text and ANA_PIN not in page.text
    done = use_link(client, path)
    assert done.status_code == 303 and done.headers["location"] == "/me/"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("rs_member=") and "HttpOnly" in cookie and "SameSite=lax" in cookie

    home = client.get("/me/")
    assert home.status_code == 200
    assert f'<strong id="pin">{ANA_PIN}</strong>' in home.text
    assert SSID in home.text and SERVER_NAME in home.text
    assert home.headers["cache-control"] == "no-store"
    assert 'name="pin"' not in home.text  # shown, never a field to edit

    # A second use, in this browser or another, gets the same clear page.
    for other in (client, site.client()):
        again = use_link(other, path)
        assert again.status_code == 410
        assert "This link is not valid any more" in again.text and ANA_PIN not in again.text
    assert "You are signed in on this device" in client.get(path).text
    actions = {(e.action, e.actor) for e in site.admin.customers.history(10)}
    assert ("member.sign_in", f"member:{ANA}") in actions
    assert any(action == "link.issue" for action, _ in actions)


def test_the_link_is_stored_hashed(site: PageSite, smtp: Smtp) -> None:
    """The table holds the SHA-256 of the token, never the token."""
    ask_link(site.client(), ANA)
    token = link_in(smtp, ANA).split("token=", 1)[1]
    with site.admin.sessions() as session:
        row = session.scalars(select(SignInLink)).one()
    assert row.purpose == MEMBER_SIGN_IN and row.email == ANA
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert row.expires_at - row.created_at == timedelta(minutes=15)


def test_a_link_past_its_15_minutes_is_refused(site: PageSite, smtp: Smtp) -> None:
    """Expiry moved in the database (no sleeping): the page and the button both refuse."""
    client = site.client()
    ask_link(client, ANA)
    path = link_in(smtp, ANA)
    with site.admin.sessions() as session:
        session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert client.get(path).status_code == 410
    page_token = path.split("token=", 1)[1]
    form = client.get("/me/sign-in")
    refused = client.post("/me/link", data={"token": page_token, "csrf_token": csrf_of(form.text)})
    assert refused.status_code == 410
    assert client.get("/me/").status_code == 303  # not signed in
    # Still inside its 15 minutes, the same link works.
    with site.admin.sessions() as session:
        session.execute(update(SignInLink).values(expires_at=utcnow() + timedelta(minutes=1)))
        session.commit()
    assert use_link(client, path).status_code == 303


def test_guessed_malformed_and_staff_links_are_refused(site: PageSite) -> None:
    """Unknown, empty, huge and odd tokens, and a staff password link: the same 410 page."""
    _staff, staff_token = site.admin.staff.add("desk@example.com", Role.ADMIN, with_link=True)
    assert staff_token is not None
    client = site.client()
    csrf = csrf_of(client.get("/me/sign-in").text)
    for token in (secrets.token_urlsafe(32), "", "x" * 300, "é\u0000", staff_token):
        page = client.get("/me/link", params={"token": token})
        assert page.status_code == 410, token
        posted = client.post("/me/link", data={"token": token, "csrf_token": csrf})
        assert posted.status_code in (410, 422), token
        assert "rs_member" not in posted.headers.get("set-cookie", "")
    # The staff link was not used up by being tried here.
    assert site.admin.staff.link_email(staff_token) == "desk@example.com"


def _normalised(html: str, email: str) -> str:
    html = html.replace(email, "EMAIL")
    return re.sub(r'name="csrf_token" value="[^"]+"', "CSRF", html)


def test_every_email_gets_the_same_answer(site: PageSite, smtp: Smtp) -> None:
    """A member, a stranger and a disabled member: same status, same page; one email sent."""
    site.admin.customers.update(BOB, CustomerUpdate(active=False))
    answers = {}
    for email in (ANA, "nobody@example.com", BOB):
        response = ask_link(site.client(), email)
        answers[email] = (response.status_code, _normalised(response.text, email))
    assert len(set(answers.values())) == 1, answers
    assert [r.rcpt_tos for r in smtp.handler.received] == [[ANA]]


def test_link_requests_are_limited_per_email_and_per_source(site: PageSite, smtp: Smtp) -> None:
    """Per email (any source) and per source (any email); the same answer for strangers."""
    for n in range(LINKS_PER_EMAIL):
        assert ask_link(site.client(source=f"10.0.0.{n}"), ANA).status_code == 200
    limited = ask_link(site.client(source="10.0.1.1"), ANA)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Too many sign-in links" in limited.text
    assert len(smtp.handler.received) == LINKS_PER_EMAIL
    # Another email from a fresh source still gets through.
    assert ask_link(site.client(source="10.0.1.2"), BOB).status_code == 200

    crowd = site.client(source="192.0.2.7")
    for n in range(LINKS_PER_SOURCE):
        assert ask_link(crowd, f"stranger{n}@example.com").status_code == 200
    assert ask_link(crowd, "stranger-last@example.com").status_code == 429
    assert ask_link(crowd, BOB).status_code == 429  # a member's email too, from that source
    assert ask_link(site.client(source="192.0.2.8"), "x@example.com").status_code == 200


def test_a_bad_email_or_missing_mail_settings_get_a_clear_answer(
    clean_db_url: str, data_dir: Path, smtp: Smtp
) -> None:
    """Not an email: 422; no SMTP sender or public URL: 503 for every email alike."""
    with _site(clean_db_url, data_dir, smtp) as site:
        _with_members(site)
        for bad_email in ("not an email", "a@b", "a" * 300 + "@example.com"):
            bad = ask_link(site.client(), bad_email)
            assert bad.status_code == 422 and "Enter your email address" in bad.text
    for missing in ({"smtp_sender_address": ""}, {"web_public_url": ""}):
        with _site(clean_db_url, data_dir, smtp, **missing) as site:
            for email in (ANA, "nobody@example.com"):
                answer = ask_link(site.client(), email)
                assert answer.status_code == 503 and "not set up here yet" in answer.text
    assert smtp.handler.received == []


def test_member_and_staff_sessions_do_not_open_each_others_pages(
    site: PageSite, smtp: Smtp
) -> None:
    """A member cookie opens no staff page, a staff cookie no members' page, swapped or not."""
    member = signed_in_member(site, smtp)
    assert member.get("/staff/").headers["location"].startswith("/staff/sign-in")
    staff = site.signed_in("desk@example.com", Role.ADMIN)
    answer = staff.get("/me/")
    assert answer.status_code == 303 and answer.headers["location"] == "/me/sign-in"
    member_id, staff_id = member.cookies["rs_member"], staff.cookies["rs_session"]
    swapped = site.client()
    swapped.cookies.set("rs_session", member_id)
    swapped.cookies.set("rs_member", staff_id)
    assert swapped.get("/staff/").status_code == 303
    assert swapped.get("/me/").status_code == 303
    # Both at once in one browser: each page sees its own.
    both = site.client()
    both.cookies.set("rs_session", staff_id)
    both.cookies.set("rs_member", member_id)
    assert both.get("/staff/").status_code == 200
    assert ANA_PIN in both.get("/me/").text


def _member_routes(site: PageSite) -> list[tuple[str, str, bool]]:
    found = []
    for path, route in all_routes(site.app.routes):
        if not (path == MEMBER_PREFIX or path.startswith(MEMBER_PREFIX + "/")):
            continue
        if path in PUBLIC_MEMBER_PAGES:
            continue
        guards = [d.call for d in route.dependant.dependencies if hasattr(d.call, "member")]
        assert len(guards) == 1, f"{path} must take exactly one member_page/member_form"
        for method in route.methods or ():
            posts = method == "POST"
            assert getattr(guards[0], "checks_csrf", False) == posts, (method, path)
            found.append((path, method, posts))
    return found


def test_every_members_page_refuses_anonymous_browsers_and_forged_forms(
    site: PageSite, smtp: Smtp
) -> None:
    """Enumerated from the app: anonymous -> sign-in page; a post without CSRF -> 403."""
    routes = _member_routes(site)
    assert {p for p, _m, _f in routes} >= {
        "/me/",
        "/me/wifi.mobileconfig",
        "/me/wifi-ca.crt",
        "/me/reminder",
        "/me/sign-out",
    }
    anonymous = site.client()
    for path, method, _form in routes:
        answer = anonymous.request(method, path)
        assert answer.status_code == 303 and answer.headers["location"] == "/me/sign-in", path
    member = signed_in_member(site, smtp)
    token = csrf_of(member.get("/me/").text)
    for path, method, form in routes:
        if not form:
            continue
        for data in ({}, {"csrf_token": token[:-1] + "x"}):
            refused = member.request(method, path, data=data)
            assert refused.status_code == 403 and ANA_PIN not in refused.text, path
    assert member.get("/me/").status_code == 200  # still signed in
    # The anonymous forms want the CSRF cookie repeated too.
    fresh = site.client()
    fresh.get("/me/sign-in")
    assert fresh.post("/me/sign-in", data={"email": ANA, "csrf_token": "f" * 40}).status_code == 403
    assert fresh.post("/me/link", data={"token": "t", "csrf_token": "f" * 40}).status_code == 403
    assert len(smtp.handler.received) == 1


def test_the_apple_profile_is_a_plist_with_the_wifi_and_the_ca(
    site: PageSite, smtp: Smtp, data_dir: Path
) -> None:
    """Content type, payloads, EAP settings, the CA; no PIN; stable identifiers."""
    member = signed_in_member(site, smtp)
    answer = member.get("/me/wifi.mobileconfig")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-apple-aspen-config"
    assert (
        answer.headers["content-disposition"] == 'attachment; filename="hive-members.mobileconfig"'
    )
    assert ANA_PIN.encode() not in answer.content
    profile = plistlib.loads(answer.content)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(payloads) == {"com.apple.security.root", "com.apple.wifi.managed"}
    ca_der = (data_dir / "certs" / "ca.der").read_bytes()
    root = payloads["com.apple.security.root"]
    assert root["PayloadContent"] == ca_der
    wifi = payloads["com.apple.wifi.managed"]
    assert wifi["SSID_STR"] == SSID and wifi["EncryptionType"] == "WPA2"
    assert wifi["AutoJoin"] is True and wifi["HIDDEN_NETWORK"] is False
    eap = wifi["EAPClientConfiguration"]
    assert eap["AcceptEAPTypes"] == [25, 21]
    assert eap["UserName"] == ANA and "UserPassword" not in eap
    assert eap["TLSTrustedServerNames"] == [SERVER_NAME]
    assert eap["PayloadCertificateAnchorUUID"] == [root["PayloadUUID"]]
    ids = [profile["PayloadUUID"]] + [p["PayloadUUID"] for p in profile["PayloadContent"]]
    assert len({str(uuid.UUID(i)) for i in ids}) == 3
    identifiers = [profile["PayloadIdentifier"]] + [
        p["PayloadIdentifier"] for p in profile["PayloadContent"]
    ]
    assert len(set(identifiers)) == 3
    # Downloaded again: the same identifiers, so the device replaces rather than adds.
    assert plistlib.loads(member.get("/me/wifi.mobileconfig").content) == profile

    ca = x509.load_der_x509_certificate(ca_der)
    assert fingerprint(ca) in member.get("/me/").text
    der = member.get("/me/wifi-ca.crt")
    assert der.content == ca_der and der.headers["content-type"] == "application/x-x509-ca-cert"
    pem = member.get("/me/wifi-ca.pem")
    assert x509.load_pem_x509_certificate(pem.content) == ca


def test_without_an_eap_certificate_the_page_says_so(
    clean_db_url: str, tmp_path: Path, smtp: Smtp
) -> None:
    """No certificate yet: the page tells the member to ask; the downloads are 404 pages."""
    with _site(clean_db_url, tmp_path, smtp) as site:
        _with_members(site)
        member = signed_in_member(site, smtp)
        home = member.get("/me/")
        assert "Secure Wi-Fi is not set up on this server yet" in home.text
        assert ANA_PIN in home.text
        for path in ("/me/wifi.mobileconfig", "/me/wifi-ca.crt"):
            missing = member.get(path)
            assert missing.status_code == 404 and 'href="/me/"' in missing.text


def test_a_member_asks_for_their_own_reminder_a_few_times(site: PageSite, smtp: Smtp) -> None:
    """Their own PIN to their own address only, audited as them; then limited."""
    member = signed_in_member(site, smtp)
    smtp.handler.received.clear()
    for _ in range(REMINDERS_PER_MEMBER):
        token = csrf_of(member.get("/me/").text)
        sent = member.post("/me/reminder", data={"csrf_token": token, "email": BOB})
        assert sent.headers["location"] == "/me/?reminder=sent"
    assert [r.rcpt_tos for r in smtp.handler.received] == [[ANA]] * REMINDERS_PER_MEMBER
    assert ANA_PIN in smtp.handler.received[0].message.get_content()
    token = csrf_of(member.get("/me/").text)
    limited = member.post("/me/reminder", data={"csrf_token": token})
    assert limited.headers["location"] == "/me/?reminder=limited"
    assert "Try again in an hour" in member.get(limited.headers["location"]).text
    assert len(smtp.handler.received) == REMINDERS_PER_MEMBER
    trail = [e for e in site.admin.customers.history(20) if e.action == "customer.pin_reminder"]
    assert {e.actor for e in trail} == {f"member:{ANA}"}
    assert all('"via": "members-page"' in e.details for e in trail)


def test_sign_out_and_disabling_end_the_member_session(site: PageSite, smtp: Smtp) -> None:
    """Signing out kills the cookie everywhere; a disabled member is signed out at once."""
    member = signed_in_member(site, smtp)
    cookie = member.cookies["rs_member"]
    token = csrf_of(member.get("/me/").text)
    out = member.post("/me/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/me/sign-in?signed_out=1"
    replay = site.client()
    replay.cookies.set("rs_member", cookie)
    assert replay.get("/me/").status_code == 303

    again = signed_in_member(site, smtp)
    assert again.get("/me/").status_code == 200
    site.admin.customers.update(ANA, CustomerUpdate(active=False))
    assert again.get("/me/").status_code == 303


def test_no_pin_or_link_token_in_logs_or_error_pages(site: PageSite, smtp: Smtp) -> None:
    """The whole flow under a log capture: neither the PIN nor the token appears."""
    with structlog.testing.capture_logs() as events:
        client = site.client()
        ask_link(client, ANA)
        path = link_in(smtp, ANA)
        use_link(client, path)
        home = client.get("/me/")
        gone = use_link(site.client(), path)
        forged = client.post("/me/reminder", data={"csrf_token": "nope"})
        token = csrf_of(home.text)
        client.post("/me/reminder", data={"csrf_token": token})
        missing = client.get("/me/nothing-here")
    token_value = path.split("token=", 1)[1]
    logged = repr(events)
    assert ANA_PIN in home.text  # the page itself shows it
    assert ANA_PIN not in logged and token_value not in logged
    for page in (gone, forged, missing):
        assert ANA_PIN not in page.text and token_value not in page.text
    paths = [e["path"] for e in events if e.get("event") == "http_request"]
    assert "/me/link" in paths and all("?" not in p and "token" not in p for p in paths)
    outcomes = [e["outcome"] for e in events if e.get("event") == "member_link"]
    assert outcomes == ["sent"]


def test_over_https_the_member_cookie_is_secure_and_host_only(site: PageSite, smtp: Smtp) -> None:
    """``__Host-rs_member``, Secure, HttpOnly, SameSite=Lax, Path=/; the plain name is ignored."""
    client = site.client(https=True)
    assert ask_link(client, ANA).status_code == 200
    done = use_link(client, link_in(smtp, ANA))
    assert done.status_code == 303
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("__Host-rs_member=")
    for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert flag in cookie, flag
    assert "Domain" not in cookie
    assert ANA_PIN in client.get("/me/").text
    plain = site.client(https=True)
    plain.cookies.set("rs_member", client.cookies["__Host-rs_member"])
    assert plain.get("/me/").status_code == 303


def test_a_source_trying_many_bad_links_is_held_off(
    clean_db_url: str, data_dir: Path, smtp: Smtp
) -> None:
    """Past web_auth_failures unusable links, 429 before any look-up; others unaffected."""
    with _site(clean_db_url, data_dir, smtp, web_auth_failures=3) as site:
        _with_members(site)
        ask_link(site.client(source="10.1.1.1"), ANA)
        path = link_in(smtp, ANA)
        guesser = site.client(source="10.9.9.9")
        for _ in range(3):
            guessed = guesser.get("/me/link", params={"token": secrets.token_urlsafe(32)})
            assert guessed.status_code == 410
        held = guesser.get(path)  # even a good link, from that source, for now
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        assert "Too many links that do not work" in held.text
        with site.admin.sessions() as session:
            assert session.scalars(select(SignInLink.used_at)).one() is None
        assert use_link(site.client(source="10.1.1.1"), path).status_code == 303
