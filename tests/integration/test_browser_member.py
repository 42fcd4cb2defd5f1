"""The browser scenario, member half: headless Chromium on ``radius-server web``.

The certificates and the member are made with the console script, as an admin
would; the sign-in link arrives at an SMTP server in the test process
(aiosmtpd). The member asks for a link, opens it from the captured email,
presses "Sign in", sees their PIN, downloads the Apple profile; the same link a
second time is refused. The screenshot of the member's page is the README's.
"""

from __future__ import annotations

import plistlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Cli
from tests.integration.browser import Browser, WebSite, browser  # noqa: F401 (fixture)
from tests.integration.test_mail import SENDER, Collector, Smtp, smtp_server
from tests.integration.web_process import running_web

__all__ = ["smtp_server"]

ANA, PIN = "ana@example.com", "40517"
SSID = "Hive Members"
SERVER_NAME = "radius.hive.test"
# The address in the emailed links. The web process listens on a port chosen at
# start (port 0), so the links name this origin and the test opens the same path
# and query on the real one: what the member's browser would do behind a proxy.
PUBLIC_URL = "https://members.hive.test"
_LINK = re.compile(re.escape(PUBLIC_URL) + r"(/me/link\?token=[A-Za-z0-9_%-]+)")
WAIT = 10.0


@pytest.fixture
def smtp(smtp_server: Callable[..., Smtp]) -> Smtp:
    """The SMTP sink the web process sends through."""
    return smtp_server(Collector())


@pytest.fixture
def web_site(pg_url: str, tmp_path: Path, smtp: Smtp) -> Iterator[WebSite]:
    """Replaces browser.py's: the same, with mail, a public URL and a network name set."""
    from radius_server.store import database

    engine = database.make_engine(pg_url)
    database.upgrade(engine)
    engine.dispose()
    cli = Cli(pg_url, tmp_path)
    certs = cli("certs", "generate", "--hostname", SERVER_NAME)
    assert certs.code == 0, certs.err
    added = cli("customer", "add", ANA, "--name", "Ana Lima", "--pin", "-", stdin=PIN + "\n")
    assert added.code == 0, added.err
    env = {
        "RADIUS_SPACE_NAME": "Hive",
        "RADIUS_WIFI_SSID": SSID,
        "RADIUS_WEB_PUBLIC_URL": PUBLIC_URL,
        "RADIUS_SMTP_HOST": "127.0.0.1",
        "RADIUS_SMTP_PORT": str(smtp.port),
        "RADIUS_SMTP_SECURITY": "none",
        "RADIUS_SMTP_SENDER_ADDRESS": SENDER,
    }
    with running_web(pg_url, tmp_path / "data", **env) as web:
        yield WebSite(web, cli, pg_url)


def _emailed_link(smtp: Smtp) -> str:
    """The link path of the one message to Ana (sent after the answer: waited for)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        received = [r for r in smtp.handler.received if r.rcpt_tos == [ANA]]
        if received:
            body = received[0].message.get_content()
            assert PIN not in body
            found = _LINK.search(body)
            assert found is not None, body
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no sign-in email for {ANA} within {WAIT} s")


def _download(browser: Browser, directory: Path, link_text: str) -> Path:  # noqa: F811
    """Click the link ``link_text`` and wait for the browser to finish saving its file."""
    from selenium.webdriver.common.by import By

    directory.mkdir()
    browser.driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(directory)}
    )
    browser.driver.find_element(By.LINK_TEXT, link_text).click()  # type: ignore[attr-defined]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done = [p for p in directory.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError(f"{link_text!r} downloaded nothing within {WAIT} s")


def test_a_member_signs_in_by_email_sees_the_pin_and_gets_the_profile(
    browser: Browser,  # noqa: F811
    web_site: WebSite,
    smtp: Smtp,
    tmp_path: Path,
) -> None:
    """Link by email, "Sign in", the PIN, the profile; the link a second time is refused."""
    browser.open("/me/")
    assert browser.path == "/me/sign-in"
    assert browser.heading() == "Your Wi-Fi PIN"
    assert browser.focused().get_attribute("name") == "email"  # type: ignore[attr-defined]
    browser.fill("Your email", ANA)
    browser.press("Email me a sign-in link")
    assert browser.heading() == "Check your email"
    assert ANA in browser.text()

    link = _emailed_link(smtp)
    browser.open(link)
    assert browser.heading() == "Sign in"  # opening the link did not use it
    assert browser.focused().text == "Sign in"  # type: ignore[attr-defined]  (Enter signs in)
    browser.press("Sign in")
    assert browser.path == "/me/"
    assert browser.heading() == "Your Wi-Fi"
    text = browser.text()
    assert PIN in text and SSID in text and SERVER_NAME in text
    assert "SHA-256 fingerprint" in text
    cookie = browser.cookie("rs_member")
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert browser.cookie("rs_session") is None  # not a staff session
    browser.screenshot("member-page.png")
    # On a phone: nothing wider than the screen (no sideways scrolling), PIN still there.
    # A phone's width; tall enough that the screenshot shows the whole page.
    browser.driver.set_window_size(390, 1500)  # type: ignore[attr-defined]
    overflow = browser.driver.execute_script(  # type: ignore[attr-defined]
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow} px wider than a phone screen"
    assert PIN in browser.text()
    browser.screenshot("member-page-phone.png")

    saved = _download(browser, tmp_path / "downloads", "Download the Wi-Fi profile")
    assert saved.name == "hive-members.mobileconfig"
    profile = plistlib.loads(saved.read_bytes())
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    wifi = payloads["com.apple.wifi.managed"]
    assert wifi["SSID_STR"] == SSID
    assert wifi["EAPClientConfiguration"]["UserName"] == ANA
    ca = (tmp_path / "data" / "certs" / "ca.der").read_bytes()
    assert payloads["com.apple.security.root"]["PayloadContent"] == ca
    assert PIN.encode() not in saved.read_bytes()

    # The same link again (say, from the email a second time): refused, clearly.
    browser.open(link)
    assert browser.heading() == "This link is not valid any more"
    assert "You are signed in on this device" in browser.text()
    browser.open("/me/")
    browser.press("Sign out")
    assert browser.path == "/me/sign-in?signed_out=1"
    browser.open(link)
    assert browser.heading() == "This link is not valid any more"
    assert "Get a new sign-in link" in browser.text()

    log = web_site.web.output()
    token = urlsplit(link).query.split("=", 1)[1]
    assert '"member_sign_in"' in log and '"outcome": "ok"' in log
    assert PIN not in log and token not in log
