"""A real browser for the page tests: Debian's headless Chromium driven by Selenium.

Why Selenium and not Playwright: Playwright's Python package drives the
browser builds it downloads itself (``playwright install``), and pointing it at
another Chromium is supported only loosely (its protocol client is pinned to one
browser revision). Selenium speaks WebDriver to Debian's ``chromedriver``, which
the ``chromium-driver`` package ships in the very version of ``chromium``: both
come from apt (.ci/run, scripts/bootstrap.sh --test) and nothing is downloaded.

Fixtures (import them into a test module):
- ``web_site``: a migrated PostgreSQL database, the console script on it (``cli``)
  and ``radius-server web`` running on a free port.
- ``browser``: a headless Chromium on ``web_site`` with small helpers (``open``,
  ``fill``, ``press``, ``heading``, ``screenshot``). Never skipped under CI=true:
  a missing chromium or chromedriver fails there (``require_tool``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Cli, require_tool
from tests.integration.web_process import WebProcess, running_web

# Where screenshots are copied for the README when set (docs/screenshots).
SCREENSHOTS_ENV = "RADIUS_SCREENSHOTS_DIR"
# A phone-ish width would hide less on a narrow README; this is a laptop window.
WINDOW = "1100,760"
WAIT_SECONDS = 10


@dataclass
class WebSite:
    """``radius-server web`` on its own database, and the console script on the same one."""

    web: WebProcess
    cli: Cli
    database_url: str


@pytest.fixture
def web_site(pg_url: str, tmp_path: Path) -> Iterator[WebSite]:
    """A migrated PostgreSQL database with ``radius-server web`` serving it."""
    from radius_server.store import database

    engine = database.make_engine(pg_url)
    database.upgrade(engine)
    engine.dispose()
    cli = Cli(pg_url, tmp_path)
    with running_web(pg_url, tmp_path / "data") as web:
        yield WebSite(web, cli, pg_url)


class Browser:
    """A headless Chromium tab with the few verbs the page tests need."""

    def __init__(self, driver: object, base_url: str, shots: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self._shots = shots

    def open(self, path: str) -> None:
        """Go to ``path`` on the site (or a full URL) and wait for the page."""
        self.driver.get(path if path.startswith("http") else self.base_url + path)  # type: ignore[attr-defined]

    @property
    def path(self) -> str:
        """The current address's path and query."""
        parts = urlsplit(self.driver.current_url)  # type: ignore[attr-defined]
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def find(self, css: str) -> object:
        """The first element matching ``css`` (waits up to WAIT_SECONDS)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ready
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_SECONDS).until(
            ready.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def field(self, label: str) -> object:
        """The input a ``<label>`` with this exact text is for (as a screen reader finds it)."""
        from selenium.webdriver.common.by import By

        labels = self.driver.find_elements(By.TAG_NAME, "label")  # type: ignore[attr-defined]
        for element in labels:
            if element.text.strip() == label:
                return self.driver.find_element(By.ID, element.get_attribute("for"))  # type: ignore[attr-defined]
        raise AssertionError(f"no field labelled {label!r} on {self.path}")

    def fill(self, label: str, value: str) -> None:
        """Type ``value`` into the field labelled ``label`` (cleared first)."""
        element = self.field(label)
        element.clear()  # type: ignore[attr-defined]
        element.send_keys(value)  # type: ignore[attr-defined]

    def press(self, button: str) -> None:
        """Click the button whose text is ``button`` and wait for the next page."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ready
        from selenium.webdriver.support.ui import WebDriverWait

        buttons = self.driver.find_elements(By.TAG_NAME, "button")  # type: ignore[attr-defined]
        matching = [b for b in buttons if b.text.strip() == button]
        assert matching, f"no button {button!r} on {self.path}"
        matching[0].click()
        # While the old document is torn down Chromium may answer a query on its element
        # with a generic "unhandled inspector error" instead of "stale": ask again.
        wait = WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,))
        wait.until(ready.staleness_of(matching[0]))

    def heading(self) -> str:
        """The page's ``<h1>``."""
        return self.find("h1").text  # type: ignore[attr-defined]

    def text(self) -> str:
        """The visible text of the page."""
        return self.find("body").text  # type: ignore[attr-defined]

    def focused(self) -> object:
        """The element that has the keyboard focus."""
        return self.driver.switch_to.active_element  # type: ignore[attr-defined]

    def tab(self) -> object:
        """Press Tab; the element focused afterwards."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        ActionChains(self.driver).send_keys(Keys.TAB).perform()  # type: ignore[arg-type]
        return self.focused()

    def fits_width(self, width: int, height: int = 844) -> bool:
        """Whether the page, in a window ``width`` CSS pixels wide, needs no sideways scrolling."""
        self.driver.set_window_size(width, height)  # type: ignore[attr-defined]
        overflow = self.driver.execute_script(  # type: ignore[attr-defined]
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        return int(overflow) <= 0

    def cookie(self, name: str) -> dict[str, object] | None:
        """A cookie of the site as the browser keeps it (flags included)."""
        return self.driver.get_cookie(name)  # type: ignore[attr-defined]

    def screenshot(self, name: str) -> Path:
        """Save a PNG of the window as ``name`` (and into $RADIUS_SCREENSHOTS_DIR if set)."""
        path = self._shots / name
        assert self.driver.save_screenshot(str(path)), name  # type: ignore[attr-defined]
        assert path.read_bytes().startswith(b"\x89PNG")
        target = os.environ.get(SCREENSHOTS_ENV)
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(target) / name)
        return path


def start_chromium(profile: Path) -> object:
    """A headless Chromium under Debian's chromedriver (skipped locally, failed in CI if absent)."""
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in CI, where the sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--password-store=basic",
        f"--window-size={WINDOW}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    # The driver named here: Selenium Manager (which would download one) never runs.
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


@pytest.fixture
def browser(web_site: WebSite, tmp_path: Path) -> Iterator[Browser]:
    """A headless Chromium on ``web_site``; closed after the test."""
    driver = start_chromium(tmp_path / "chromium-profile")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Browser(driver, web_site.web.url, shots)
    finally:
        driver.quit()  # type: ignore[attr-defined]
