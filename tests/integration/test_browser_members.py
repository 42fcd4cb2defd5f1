"""The front desk in a real browser (issue 15, the staff half of the scenario).

Headless Debian Chromium (Selenium, tests/integration/browser.py) on a real
``radius-server web``, with ``radius-server serve`` on the same PostgreSQL
database and an SMTP sink (aiosmtpd) for the reminders. An operator signs in,
searches a member, edits the PIN (the running RADIUS server refuses the old PIN
and accepts the new one within a second: radclient), ticks three members, sends
PIN reminders and confirms with "Yes, do it"; the sink receives three emails,
each with its member's own PIN. The screenshots are the README's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from radius_server.admin import Admin
from radius_server.admin.customers import CustomerUpdate, NewCustomer
from tests.conftest import Cli
from tests.integration.browser import Browser, start_chromium
from tests.integration.pages_support import page_settings
from tests.integration.radclient_auth import radclient_auth
from tests.integration.server_process import ServerProcess, running_server
from tests.integration.test_mail import SENDER, Collector, Smtp, smtp_server
from tests.integration.udp_client import SECRET
from tests.integration.web_process import WebProcess, running_web

__all__ = ["smtp_server"]
pytestmark = pytest.mark.tools

STAFF = "desk@example.com"
PASSWORD = "front desk password 2026"
# email, name, PIN: the front desk's morning.
MEMBERS = [
    ("ana@example.com", "Ana Lima", "70517"),
    ("bob@example.com", "Bob Stone", "81254"),
    ("cy@example.com", "Cy Park", "92375"),
    ("dee@example.com", "Dee Okafor", "73816"),
    ("eli@example.com", "Eli Brandt", "84927"),
]
# Above 65535: no port number in a log line can look like one of these PINs.
NEW_PIN = "97049"
# The deadline: a PIN changed on the page reaches the running server's next
# sign-in within a second (a probe *sent* before the deadline must see it).
WITHIN_SECONDS = 1.0


@dataclass
class FrontDesk:
    """Web and RADIUS on one database, the SMTP sink, and a browser."""

    web: WebProcess
    radius: ServerProcess
    smtp: Smtp
    browser: Browser


def _seed(pg_url: str) -> None:
    admin = Admin.open(page_settings(pg_url), "test")
    try:
        for email, name, pin in MEMBERS:
            admin.customers.add(NewCustomer(email=email, name=name, pin=pin))
        admin.customers.update("eli@example.com", CustomerUpdate(active=False))
    finally:
        admin.close()


@pytest.fixture
def desk(pg_url: str, tmp_path: Path, smtp_server: Callable[..., Smtp]) -> Iterator[FrontDesk]:
    """A migrated database with members, the loopback NAS and an operator; all running."""
    cli = Cli(pg_url, tmp_path)
    for args, stdin in (
        (("db", "upgrade"), None),
        (("nas", "add", "loopback", "--address", "127.0.0.1", "--secret", SECRET), None),
        (("staff", "add", STAFF, "--role", "operator", "--password-stdin"), PASSWORD + "\n"),
    ):
        done = cli(*args, stdin=stdin) if stdin else cli(*args)
        assert done.code == 0, done.err
    _seed(pg_url)
    smtp = smtp_server(Collector())
    mail = {
        "RADIUS_SMTP_HOST": "127.0.0.1",
        "RADIUS_SMTP_PORT": str(smtp.port),
        "RADIUS_SMTP_SECURITY": "none",
        "RADIUS_SMTP_SENDER_ADDRESS": SENDER,
        "RADIUS_SMTP_RATE_PER_MINUTE": "6000",
    }
    driver = start_chromium(tmp_path / "chromium-profile")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        with (
            running_web(pg_url, tmp_path / "web", **mail) as web,
            running_server(pg_url, tmp_path / "serve") as radius,
        ):
            yield FrontDesk(web, radius, smtp, Browser(driver, web.url, shots))
            assert "Traceback" not in web.output()
    finally:
        driver.quit()  # type: ignore[attr-defined]


def signs_in(radius: ServerProcess, email: str, pin: str) -> bool | None:
    """One radclient PAP sign-in: True on Accept, False on Reject, None without an answer."""
    done = radclient_auth(
        radius.auth_port,
        SECRET,
        f'User-Name = "{email}", User-Password = "{pin}"',
        retries=1,
        timeout=1,
    )
    if "Received Access-Accept" in done.stdout:
        return True
    if "Received Access-Reject" in done.stdout:
        return False
    return None


def seconds_until(
    radius: ServerProcess, email: str, wanted: dict[str, bool], since: float
) -> float:
    """Probe until every PIN gets its answer; fail when no round started in time did."""
    while True:
        started = time.monotonic()
        if started - since > WITHIN_SECONDS:
            pytest.fail(f"the RADIUS server did not answer {wanted} within {WITHIN_SECONDS} s")
        if all(signs_in(radius, email, pin) is answer for pin, answer in wanted.items()):
            return started - since
        time.sleep(0.02)


def tick(browser: Browser, email: str) -> None:
    """Tick the member's box in the table (by its value, as its hidden label names it)."""
    box = browser.driver.find_element(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, f'input[type="checkbox"][name="email"][value="{email}"]'
    )
    label = browser.driver.find_element(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, f'label[for="{box.get_attribute("id")}"]'
    )
    assert label.get_attribute("textContent") == f"Select {email}"
    box.click()
    assert box.is_selected()


def test_front_desk_edits_a_pin_and_sends_reminders(desk: FrontDesk) -> None:
    """Sign in, search, edit the PIN (RADIUS follows), tick three, remind, confirm."""
    browser, radius = desk.browser, desk.radius
    ana, ana_name, old_pin = MEMBERS[0]
    assert seconds_until(radius, ana, {old_pin: True}, time.monotonic()) >= 0

    browser.open("/staff/members")
    assert browser.path == "/staff/sign-in?next=%2Fstaff%2Fmembers"
    browser.fill("Email", STAFF)
    browser.fill("Password", PASSWORD)
    browser.press("Sign in")
    assert browser.path == "/staff/members"
    assert browser.heading() == "Members"
    table = browser.text()
    assert all(email in table for email, _n, _p in MEMBERS)
    assert not any(pin in table for _e, _n, pin in MEMBERS)
    browser.screenshot("staff-members.png")

    # Search: part of a name.
    browser.fill("Search members", "lima")
    browser.press("Search")
    assert browser.path.startswith("/staff/members?q=lima")
    found = browser.text()
    assert ana in found and "bob@example.com" not in found
    browser.driver.find_element(By.LINK_TEXT, ana).click()  # type: ignore[attr-defined]
    browser.find("#pin")
    assert browser.heading() == ana_name
    assert browser.find("#pin").text == old_pin  # type: ignore[attr-defined]

    # Edit the PIN; the page comes back (303) with what happened.
    browser.fill("New PIN", NEW_PIN)
    browser.press("Change PIN")
    since = time.monotonic()
    assert browser.path == f"/staff/members/{ana}"
    assert "PIN changed." in browser.find('[role="status"]').text  # type: ignore[attr-defined]
    assert browser.find("#pin").text == NEW_PIN  # type: ignore[attr-defined]
    delay = seconds_until(radius, ana, {old_pin: False, NEW_PIN: True}, since)
    print(f"[browser timing] PIN changed on the page -> old refused, new accepted: {delay:.3f} s")
    browser.screenshot("staff-member.png")

    # Three members ticked, one reminder each after "Yes, do it".
    browser.open("/staff/members")
    chosen = [MEMBERS[0][0], MEMBERS[1][0], MEMBERS[3][0]]
    for email in chosen:
        tick(browser, email)
    browser.press("Send PIN reminder")
    assert browser.heading() == "Send PIN reminders?"
    assert "Send a PIN reminder email to 3 members?" in browser.text()
    # The keyboard starts on the answer; the question is its description.
    focused = browser.focused()
    assert focused.text == "Yes, do it"  # type: ignore[attr-defined]
    assert focused.get_attribute("aria-describedby") == "confirm-what"  # type: ignore[attr-defined]
    assert desk.smtp.handler.received == []
    # Pressed where the focus is (Enter), as a keyboard user would.
    focused.send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    WebDriverWait(browser.driver, 30).until(lambda _d: browser.path == "/staff/members/reminders")
    assert "Reminders: 3 sent, 0 failed, 0 skipped." in browser.text()
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "tbody tr")  # type: ignore[attr-defined]
    assert sorted(row.text.split()[0:2] for row in rows) == [[e, "sent"] for e in sorted(chosen)]

    pins = {email: pin for email, _n, pin in MEMBERS} | {ana: NEW_PIN}
    assert len(desk.smtp.handler.received) == 3
    for email in chosen:
        body = desk.smtp.handler.to(email).message.get_content()
        assert pins[email] in body
        assert not any(pin in body for other, pin in pins.items() if other != email)

    # On a phone the page does not scroll sideways: only the table's own box may.
    browser.driver.set_window_size(390, 844)  # type: ignore[attr-defined]
    for path in ("/staff/members", f"/staff/members/{ana}"):
        browser.open(path)
        widths = browser.driver.execute_script(  # type: ignore[attr-defined]
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], (path, widths)

    log = desk.web.output()
    assert PASSWORD not in log
    assert not any(re.search(rf"(?<!\d){pin}(?!\d)", log) for pin in pins.values())
