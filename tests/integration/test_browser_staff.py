"""Staff sign-in in a real browser: headless Chromium on ``radius-server web``.

The account is made with the console script, as an admin would; the browser
signs in, sees the home page, signs out; a wrong password is refused; a
one-time link sets a password. The screenshots are the README's.
"""

from __future__ import annotations

import re

from tests.integration.browser import Browser, WebSite, browser, web_site  # noqa: F401 (fixtures)

PASSWORD = "front desk password 2026"


def test_staff_signs_in_sees_home_and_signs_out(
    browser: Browser,  # noqa: F811
    web_site: WebSite,  # noqa: F811
) -> None:
    """CLI-made account; wrong password refused; right one signs in; sign-out ends it."""
    added = web_site.cli(
        "staff",
        "add",
        "ann@example.com",
        "--role",
        "operator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.code == 0, added.err
    browser.open("/staff/")
    assert browser.path == "/staff/sign-in"
    assert browser.heading() == "Staff sign-in"
    # The cursor waits in the email field; Tab goes on in reading order.
    assert browser.focused().get_attribute("name") == "email"  # type: ignore[attr-defined]
    assert browser.tab().get_attribute("name") == "password"  # type: ignore[attr-defined]
    browser.screenshot("staff-sign-in.png")

    browser.fill("Email", "ann@example.com")
    browser.fill("Password", "not the password at all")
    browser.press("Sign in")
    assert browser.path == "/staff/sign-in"
    assert "The email or the password is not right." in browser.text()
    assert browser.cookie("rs_session") is None

    browser.fill("Password", PASSWORD)  # the email is kept
    browser.press("Sign in")
    assert browser.path == "/staff/"
    assert browser.heading() == "Home"
    assert "Signed in as ann@example.com, operator." in browser.text()
    cookie = browser.cookie("rs_session")
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    browser.screenshot("staff-home.png")
    # On a page without autofocus the skip link is the keyboard's first stop, and shows.
    skip = browser.tab()
    assert skip.get_attribute("href").endswith("#main")  # type: ignore[attr-defined]
    assert skip.text == "Skip to the content"  # type: ignore[attr-defined]

    # Readable on a phone: nothing wider than a 360-pixel screen.
    assert browser.fits_width(360)
    browser.press("Sign out")
    assert browser.fits_width(360)
    assert browser.path == "/staff/sign-in?signed_out=1"
    assert "You are signed out." in browser.text()
    browser.open("/staff/")
    assert browser.path == "/staff/sign-in"

    log = web_site.web.output()
    assert "staff_sign_in" in log
    assert PASSWORD not in log and "not the password at all" not in log


def test_a_one_time_link_sets_the_password(
    browser: Browser,  # noqa: F811
    web_site: WebSite,  # noqa: F811
) -> None:
    """The link printed by ``staff add`` works once; the new password signs in."""
    added = web_site.cli("staff", "add", "bob@example.com", "--role", "readonly")
    assert added.code == 0, added.err
    link = re.search(r"/staff/set-password\?token=\S+", added.out)
    assert link is not None
    browser.open(link.group(0))
    assert browser.heading() == "Choose your password"
    browser.fill("New password", "bob's own long password")
    browser.fill("The same password again", "bob's own long password")
    browser.press("Set password")
    assert browser.path == "/staff/sign-in?password_set=1"
    browser.fill("Email", "bob@example.com")
    browser.fill("Password", "bob's own long password")
    browser.press("Sign in")
    assert "Signed in as bob@example.com, readonly." in browser.text()
    browser.open(link.group(0))
    assert browser.heading() == "This link is not valid any more"
