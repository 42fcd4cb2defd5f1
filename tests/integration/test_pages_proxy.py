"""The session cookie behind a reverse proxy, through the real ``radius-server web``.

uvicorn takes the scheme from X-Forwarded-Proto only from ``web_trusted_proxies``:
then the cookie is Secure with the ``__Host-`` prefix; from anyone else the header
is ignored and the cookie is a plain one (over plain HTTP a Secure cookie would
never come back).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli
from tests.integration.pages_support import csrf_of
from tests.integration.web_process import running_web

PASSWORD = "behind the proxy 2026"


def _sign_in(url: str, forwarded: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=url, headers=forwarded, follow_redirects=False) as client:
        form = client.get("/staff/sign-in")
        # httpx keeps a Secure cookie only for https: hand the CSRF cookie back by hand.
        name = next(iter(form.cookies.keys()))
        return client.post(
            "/staff/sign-in",
            data={
                "email": "ann@example.com",
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
            },
            headers={"Cookie": f"{name}={form.cookies[name]}"},
        )


@pytest.mark.parametrize(("trusted", "secure"), [("127.0.0.1", True), ("", False)])
def test_forwarded_https_makes_the_cookie_secure_only_from_a_trusted_proxy(
    sqlite_url: str, tmp_path: Path, trusted: str, secure: bool
) -> None:
    """Trusted proxy saying https: __Host-, Secure. Anyone else saying it: ignored."""
    cli = Cli(sqlite_url, tmp_path)
    assert (
        cli(
            "staff",
            "add",
            "ann@example.com",
            "--role",
            "readonly",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ).code
        == 0
    )
    with running_web(sqlite_url, tmp_path / "data", RADIUS_WEB_TRUSTED_PROXIES=trusted) as web:
        response = _sign_in(web.url, {"X-Forwarded-Proto": "https"})
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    if secure:
        assert cookie.startswith("__Host-rs_session=") and "; Secure" in cookie
    else:
        assert cookie.startswith("rs_session=") and "Secure" not in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
