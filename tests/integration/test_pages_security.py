"""The staff pages' locks: sessions, roles, CSRF, cookie flags, rate limits, links.

On both back ends (SQLite and the real PostgreSQL), through FastAPI's TestClient.
Every page of the application is enumerated: a page added later is covered by
the same tests without naming it here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

import pytest
import structlog
from fastapi import Depends
from sqlalchemy import update

from radius_server.rules.roles import Role
from radius_server.store.journal import utcnow
from radius_server.store.models import SignInLink, WebSession
from radius_server.web.pages import MEMBER_PREFIX, PUBLIC_PAGES
from radius_server.web.pages.staff_auth import StaffUser, staff_form, staff_page
from tests.integration.pages_support import PASSWORD, PageSite, all_routes, csrf_of, page_site

# Filler for path parameters when a page is opened without its real target.
_FILLER = "1"


@pytest.fixture
def site(clean_db_url: str) -> Iterator[PageSite]:
    """The application on an emptied database (both back ends); 3 failed sign-ins allowed."""
    with page_site(clean_db_url, web_auth_failures=3) as made:
        yield made


def _page_routes(site: PageSite) -> list[tuple[str, str, Role]]:
    """Every page (not the API): its path, a method, the role its dependency names."""
    found = []
    for path, route in all_routes(site.app.routes):
        if path.startswith("/api/") or path in PUBLIC_PAGES or path == "/healthz":
            continue
        if path == MEMBER_PREFIX or path.startswith(MEMBER_PREFIX + "/"):
            continue  # members' pages: test_member_pages.py
        roles = [
            d.call.role  # type: ignore[attr-defined]
            for d in route.dependant.dependencies
            if hasattr(d.call, "role")
        ]
        assert len(roles) == 1, f"{path} must take exactly one staff_page/staff_form"
        url = path
        for name in route.param_convertors:
            url = url.replace("{" + name + "}", _FILLER)
        for method in sorted(route.methods or ()):
            found.append((url, method, roles[0]))
    return found


def _add_test_pages(site: PageSite) -> None:
    """One admin page and one admin form, so "too small a role" is proven today."""

    @site.app.get("/staff/test-admin-page")
    def _page(user: Annotated[StaffUser, Depends(staff_page(Role.ADMIN))]) -> dict[str, str]:
        return {"email": user.email}

    @site.app.post("/staff/test-admin-form")
    def _form(user: Annotated[StaffUser, Depends(staff_form(Role.ADMIN))]) -> dict[str, str]:
        return {"email": user.email}


def test_every_page_sends_an_anonymous_browser_to_sign_in(site: PageSite) -> None:
    """GET and POST alike: a 303 to the sign-in page, nothing done."""
    _add_test_pages(site)
    routes = _page_routes(site)
    assert {path for path, _m, _role in routes} >= {"/staff/", "/staff/sign-out"}
    client = site.client()
    for path, method, _role in routes:
        response = client.request(method, path)
        assert response.status_code == 303, (method, path)
        assert response.headers["location"].startswith("/staff/sign-in"), path


def test_every_page_refuses_a_smaller_role(site: PageSite) -> None:
    """Each role opens what its role allows; a smaller one gets the 403 page."""
    _add_test_pages(site)
    clients = {role: site.signed_in(f"{role.label}@example.com", role) for role in Role}
    for path, method, needed in _page_routes(site):
        if path == "/staff/sign-out":
            continue  # every role may sign out; proven below
        for role, client in clients.items():
            token = csrf_of(client.get("/staff/").text)
            data = {"csrf_token": token} if method == "POST" else None
            response = client.request(method, path, data=data)
            if role.allows(needed):
                assert response.status_code != 403, (role, method, path)
            else:
                assert response.status_code == 403, (role, method, path)
                assert "text/html" in response.headers["content-type"]
                assert "your account is " + role.label in response.text


def test_a_form_post_without_or_with_a_wrong_csrf_token_is_refused(site: PageSite) -> None:
    """Signed-in forms and the anonymous sign-in form alike: 403, nothing done."""
    _add_test_pages(site)
    client = site.signed_in("ann@example.com", Role.ADMIN)
    token = csrf_of(client.get("/staff/").text)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": token[:-1] + "x"}, {"csrf_token": "é"}):
        assert client.post("/staff/test-admin-form", data=data).status_code == 403
        assert client.post("/staff/sign-out", data=data).status_code == 403
    assert client.get("/staff/").status_code == 200  # still signed in
    assert client.post("/staff/test-admin-form", data={"csrf_token": token}).status_code == 200
    # Another session's token is no good either.
    other = site.signed_in("bob@example.com", Role.ADMIN)
    other_token = csrf_of(other.get("/staff/").text)
    assert client.post("/staff/sign-out", data={"csrf_token": other_token}).status_code == 403
    # Anonymous: the form field must repeat the browser's own cookie.
    fresh = site.client()
    fresh.get("/staff/sign-in")
    refused = fresh.post(
        "/staff/sign-in",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": "forged" * 8},
    )
    assert refused.status_code == 403
    assert "rs_session" not in refused.headers.get("set-cookie", "")


def test_session_cookie_flags_over_http_and_https(site: PageSite) -> None:
    """HttpOnly and SameSite=Lax always; Secure and the __Host- prefix over HTTPS."""
    site.add_staff("ann@example.com", Role.READONLY)
    plain = site.client()
    cookie = site.sign_in(plain, "ann@example.com").headers["set-cookie"]
    assert cookie.startswith("rs_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    secure = site.client(https=True)
    cookie = site.sign_in(secure, "ann@example.com").headers["set-cookie"]
    assert cookie.startswith("__Host-rs_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Domain" not in cookie and "Max-Age" not in cookie
    assert secure.get("/staff/").status_code == 200


def test_sign_out_ends_the_session_everywhere(site: PageSite) -> None:
    """The cookie copied before sign-out is dead afterwards."""
    client = site.signed_in("ann@example.com", Role.OPERATOR)
    cookies = dict(client.cookies)
    out = client.post("/staff/sign-out", data={"csrf_token": csrf_of(client.get("/staff/").text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/staff/sign-in?signed_out=1"
    copy = site.client()
    copy.cookies.update(cookies)
    assert copy.get("/staff/").status_code == 303
    actions = [e.action for e in site.admin.customers.history(10)]
    assert actions[:2] == ["staff.sign_out", "staff.sign_in"]


def test_idle_and_absolute_expiry(site: PageSite) -> None:
    """A session idle longer than web_session_idle, or past its end, signs nobody in."""
    client = site.signed_in("ann@example.com", Role.READONLY)
    assert client.get("/staff/").status_code == 200
    idle = timedelta(seconds=site.settings.web_session_idle)
    with site.engine.begin() as conn:
        conn.execute(update(WebSession).values(last_seen_at=utcnow() - idle - timedelta(seconds=5)))
    assert client.get("/staff/").status_code == 303
    client = site.signed_in("bob@example.com", Role.READONLY)
    with site.engine.begin() as conn:
        conn.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/staff/").status_code == 303


def test_disabling_or_a_new_password_signs_the_account_out(site: PageSite) -> None:
    """Sessions end in the transaction that takes access away."""
    client = site.signed_in("ann@example.com", Role.ADMIN)
    site.admin.staff.set_password("ann@example.com", "another long password")
    assert client.get("/staff/").status_code == 303
    assert site.sign_in(client, "ann@example.com", "another long password").status_code == 303
    site.admin.staff.set_disabled("ann@example.com", True)
    assert client.get("/staff/").status_code == 303
    assert site.sign_in(client, "ann@example.com", "another long password").status_code == 401


def test_unknown_email_and_wrong_password_get_the_same_answer(site: PageSite) -> None:
    """Same status, same page apart from the echoed email: nothing tells which emails exist."""
    site.add_staff("ann@example.com", Role.ADMIN)
    site.add_staff("nopass@example.com", Role.ADMIN, password=None)
    answers = []
    for email in ("ann@example.com", "nobody@example.com", "nopass@example.com"):
        response = site.sign_in(site.client(source=email), email, "wrong password here")
        assert response.status_code == 401
        answers.append(response.text.replace(email, "EMAIL"))
    first = answers[0]
    first_without_token = first.replace(csrf_of(first), "T")
    assert all(a.replace(csrf_of(a), "T") == first_without_token for a in answers)


def test_sign_in_is_rate_limited_per_source_and_per_email(site: PageSite) -> None:
    """After 3 failures, even the right password gets 429 with Retry-After."""
    site.add_staff("ann@example.com", Role.ADMIN)
    site.add_staff("bob@example.com", Role.ADMIN)
    attacker = site.client(source="192.0.2.1")
    for _ in range(3):
        assert site.sign_in(attacker, "ann@example.com", "wrong password here").status_code == 401
    limited = site.sign_in(attacker, "bob@example.com")  # other email, same source
    assert limited.status_code == 429
    assert "Too many failed sign-ins. Try again in" in limited.text
    assert int(limited.headers["retry-after"]) >= 1
    # Per email: failures from many sources lock that email, not the others.
    for n in range(3):
        client = site.client(source=f"198.51.100.{n}")
        assert site.sign_in(client, "bob@example.com", "wrong password here").status_code == 401
    assert site.sign_in(site.client(source="203.0.113.9"), "BOB@example.com").status_code == 429
    assert site.sign_in(site.client(source="203.0.113.9"), "nobody@example.com").status_code == 401


def test_sign_in_comes_back_to_the_page_asked_for(site: PageSite) -> None:
    """An anonymous GET of a page with a query: after sign-in, the same page and query."""
    _add_test_pages(site)
    site.add_staff("ann@example.com", Role.ADMIN)
    client = site.client()
    redirect = client.get("/staff/test-admin-page?q=ann&page=2")
    assert redirect.headers["location"] == (
        "/staff/sign-in?next=%2Fstaff%2Ftest-admin-page%3Fq%3Dann%26page%3D2"
    )
    form = client.get(redirect.headers["location"])
    assert 'name="next" value="/staff/test-admin-page?q=ann&amp;page=2"' in form.text
    done = client.post(
        "/staff/sign-in",
        data={
            "email": "ann@example.com",
            "password": PASSWORD,
            "next": "/staff/test-admin-page?q=ann&page=2",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert done.headers["location"] == "/staff/test-admin-page?q=ann&page=2"


def test_open_redirects_are_refused(site: PageSite) -> None:
    """``next`` only ever leads to a staff page of ours."""
    site.add_staff("ann@example.com", Role.READONLY)
    for target, expected in (
        ("https://evil.example/", "/staff/"),
        ("//evil.example/staff/", "/staff/"),
        ("/staff/\\evil", "/staff/"),
        ("/staff/members?q=a", "/staff/members?q=a"),
    ):
        client = site.client()
        form = client.get("/staff/sign-in", params={"next": target})
        response = client.post(
            "/staff/sign-in",
            data={
                "email": "ann@example.com",
                "password": PASSWORD,
                "next": target,
                "csrf_token": csrf_of(form.text),
            },
        )
        assert response.headers["location"] == expected


def test_password_link_is_single_use_expires_and_checks_the_password(site: PageSite) -> None:
    """24 hours, once; a refused password leaves it usable; a used one is 410."""
    record, token = site.admin.staff.add("ann@example.com", Role.OPERATOR, with_link=True)
    assert token is not None and not record.has_password
    client = site.client()
    page = client.get("/staff/set-password", params={"token": token})
    assert page.status_code == 200 and "ann@example.com" in page.text
    csrf = csrf_of(page.text)

    def post(password: str, confirm: str | None = None, tok: str = token) -> object:
        return client.post(
            "/staff/set-password",
            data={
                "token": tok,
                "password": password,
                "confirm": password if confirm is None else confirm,
                "csrf_token": csrf,
            },
        )

    assert post("short").status_code == 422
    assert post("ann@example.com").status_code == 422
    assert post("a long password one", "a long password two").status_code == 422
    done = post("a long password one")
    assert done.status_code == 303 and done.headers["location"].endswith("password_set=1")
    assert post("a long password one").status_code == 410
    assert client.get("/staff/set-password", params={"token": token}).status_code == 410
    assert site.sign_in(client, "ann@example.com", "a long password one").status_code == 303
    # Guessed and expired links.
    assert client.get("/staff/set-password", params={"token": "x" * 43}).status_code == 410
    _record, second = site.admin.staff.password_link("ann@example.com")
    with site.engine.begin() as conn:
        conn.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/staff/set-password", params={"token": second}).status_code == 410


def test_no_password_in_logs_or_pages(site: PageSite) -> None:
    """Neither the typed password nor the hash reaches a log event or a page."""
    site.add_staff("ann@example.com", Role.ADMIN)
    secret = "wrong but secret passphrase"
    with structlog.testing.capture_logs() as events:
        client = site.client()
        refused = site.sign_in(client, "ann@example.com", secret)
        accepted = site.sign_in(client, "ann@example.com")
        home = client.get("/staff/")
    text = repr(events) + refused.text + accepted.text + home.text
    assert any(e.get("event") == "staff_sign_in" for e in events)
    assert secret not in text and PASSWORD not in text and "$argon2" not in text


def test_page_errors_are_html_and_api_errors_stay_problems(site: PageSite) -> None:
    """An unknown page is an HTML 404 page; an unknown API path, problem+json."""
    client = site.client()
    page = client.get("/staff/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    api = client.get("/api/v1/no-such-thing")
    assert api.headers["content-type"] == "application/problem+json"


def test_pages_carry_security_headers(site: PageSite) -> None:
    """No framing, our own scripts only, no referrer, HTML not cached."""
    response = site.client().get("/staff/sign-in")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    css = site.client().get("/static/style.css")
    assert css.status_code == 200 and "cache-control" not in css.headers


def test_a_member_session_never_opens_a_staff_page(site: PageSite) -> None:
    """A members' portal cookie (kind member) is no staff session, whatever its subject id."""
    from radius_server.store.web_sessions import MEMBER, open_in

    site.add_staff("ann@example.com", Role.ADMIN)
    staff_id = site.admin.staff.get("ann@example.com").id
    with site.admin.sessions() as session:
        _record, session_id = open_in(
            session, MEMBER, staff_id, "ann@example.com", timedelta(hours=1)
        )
        session.commit()
    client = site.client()
    client.cookies.set("rs_session", session_id)
    assert client.get("/staff/").status_code == 303


def test_a_failing_page_is_an_html_500_that_tells_nothing(site: PageSite) -> None:
    """An unexpected error on a page: the error page, without the exception's text."""
    from fastapi.testclient import TestClient

    @site.app.get("/staff/test-broken")
    def _broken(user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))]) -> None:
        raise RuntimeError("secret detail 12345")

    client = site.signed_in("ann@example.com", Role.READONLY)
    crashing = TestClient(site.app, raise_server_exceptions=False, follow_redirects=False)
    crashing.cookies.update(dict(client.cookies))
    response = crashing.get("/staff/test-broken")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "secret detail" not in response.text and "12345" not in response.text
