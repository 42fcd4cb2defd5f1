"""An admin adds an access point and watches live decisions, in a real browser.

Headless Chromium on ``radius-server web``, with ``radius-server serve`` beside it
on the same PostgreSQL database: the access point is added on the page (its
secret read from the one page that shows it), Debian's radclient signs in
through it with a wrong and a right PIN, and the live decisions page shows both
with their reasons. The screenshot of that page is the README's.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.integration.browser import (  # noqa: F401 (fixtures)
    WAIT_SECONDS,
    Browser,
    WebSite,
    browser,
    web_site,
)
from tests.integration.radclient_auth import radclient_auth
from tests.integration.server_process import running_server

PASSWORD = "front desk password 2026"
EMAIL = "ana@example.com"
# Above the ephemeral port range: a port number in a log line cannot look like them.
PIN = "81726"
WRONG_PIN = "81729"
# The servers write decisions in batches off the hot path (runtime/decisions.py).
DECISIONS_WITHIN = 10.0


def _sign_in(browser: Browser, web_site: WebSite) -> None:  # noqa: F811
    done = web_site.cli(
        "staff", "add", "admin@example.com", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert done.code == 0, done.err
    browser.open("/staff/sign-in")
    browser.fill("Email", "admin@example.com")
    browser.fill("Password", PASSWORD)
    browser.press("Sign in")
    assert browser.heading() == "Home"


def _decision_rows(browser: Browser, path: str | None, count: int) -> list[str]:  # noqa: F811
    """The table's rows as text, reloading ``path`` until it has ``count`` (written in batches)."""
    deadline = time.monotonic() + DECISIONS_WITHIN
    while True:
        if path is not None:
            browser.open(path)
        found = browser.driver.find_elements("css selector", "table.decisions tbody tr")  # type: ignore[attr-defined]
        texts = [row.text for row in found]
        if len(texts) >= count or path is None or time.monotonic() > deadline:
            assert len(texts) == count, texts
            return texts
        time.sleep(0.5)


def test_admin_adds_an_access_point_and_reads_live_decisions(
    browser: Browser,  # noqa: F811
    web_site: WebSite,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Add the AP on the page; radclient signs in twice through it; both decisions shown."""
    from selenium.webdriver.support.ui import Select

    added = web_site.cli("customer", "add", EMAIL, "--name", "Ana Example", "--pin", PIN)
    assert added.code == 0, added.err
    _sign_in(browser, web_site)
    browser.open("/staff/access-points")
    assert "No access point yet." in browser.text()
    browser.fill("Name", "front-desk")
    browser.fill("Address", "127.0.0.1")
    browser.press("Add the access point")
    assert browser.heading() == "Access point front-desk added"
    secret = browser.find("#secret").text  # type: ignore[attr-defined]
    assert len(secret) >= 20
    assert re.search(r"Authentication server: .+, UDP port 1812", browser.text())
    browser.open("/staff/access-points")
    assert "front-desk" in browser.text() and secret not in browser.driver.page_source  # type: ignore[attr-defined]

    with running_server(web_site.database_url, tmp_path / "serve") as radius:
        for user, pin, answer in (
            ("guest@example.com", PIN, "Access-Reject"),
            (EMAIL, WRONG_PIN, "Access-Reject"),
            (EMAIL, PIN, "Access-Accept"),
        ):
            done = radclient_auth(
                radius.auth_port, secret, f'User-Name = "{user}", User-Password = "{pin}"'
            )
            assert f"Received {answer}" in done.stdout, done.stdout + done.stderr
        # The decisions page shows all three once the server has written them.
        rows = _decision_rows(browser, "/staff/decisions", 3)
        assert "guest@example.com" in rows[2] and "unknown_user" in rows[2]
        assert "No member has this email." in rows[2]
        assert browser.heading() == "Live decisions"
        browser.screenshot("staff-live-decisions.png")
        # Filtered by the member with the form, as the front desk would: newest first.
        browser.fill("Member", EMAIL)
        browser.press("Filter")
        newest, oldest = _decision_rows(browser, None, 2)
        assert "accepted" in newest and "front-desk" in newest and "ok" in newest
        assert "refused" in oldest and "wrong_pin" in oldest and "Wrong PIN." in oldest
        # By access point: all three came through it.
        browser.open("/staff/decisions")
        Select(browser.field("Access point")).select_by_visible_text("front-desk")
        browser.press("Filter")
        assert browser.path == "/staff/decisions?member=&access_point=front-desk&outcome="
        assert len(_decision_rows(browser, None, 3)) == 3
        log = radius.output()
    assert PIN not in log and WRONG_PIN not in log and secret not in log
    web_log = web_site.web.output()
    assert PIN not in web_log and secret not in web_log and PASSWORD not in web_log


def _preview_shows(browser: Browser, wanted: str) -> str:  # noqa: F811
    """The preview section's text once it contains ``wanted`` (the script refreshes it)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        shown = browser.find("#preview").text  # type: ignore[attr-defined]
        if wanted in shown or time.monotonic() > deadline:
            assert wanted in shown, shown
            return shown
        time.sleep(0.2)


def test_admin_edits_the_reminder_with_a_live_preview(
    browser: Browser,  # noqa: F811
    web_site: WebSite,  # noqa: F811
) -> None:
    """Preview button for a member; typing refreshes the preview and the field's errors."""
    added = web_site.cli("customer", "add", EMAIL, "--name", "Ana Example", "--pin", PIN)
    assert added.code == 0, added.err
    _sign_in(browser, web_site)
    browser.open("/staff/template")
    assert browser.heading() == "Reminder email"
    browser.fill("Preview for the member", EMAIL)
    browser.press("Preview")
    assert PIN in _preview_shows(browser, "Ana Example")
    # Typing in the body: the script posts the form and swaps in the new preview.
    browser.fill("Plain-text body", "Hello {name}, your PIN is {pin}. See you!")
    _preview_shows(browser, f"Hello Ana Example, your PIN is {PIN}. See you!")
    browser.fill("Subject", "Your PIN {pin}")
    deadline = time.monotonic() + WAIT_SECONDS
    while not browser.driver.find_elements("css selector", "#f-subject-error"):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "no error shown next to the subject"
        time.sleep(0.2)
    browser.press("Save")
    assert "must not contain {pin}" in browser.find("#f-subject-error").text  # type: ignore[attr-defined]
    assert browser.field("Subject").get_attribute("aria-invalid") == "true"  # type: ignore[attr-defined]
    browser.fill("Subject", "Wi-Fi at {space_name}")
    browser.press("Save")
    assert browser.path == "/staff/template?done=saved"
    assert "The template is saved." in browser.text()
    shown = web_site.cli("template", "show")
    assert "Hello {name}, your PIN is {pin}. See you!" in shown.out, shown.err
    assert PIN not in web_site.web.output()
