"""Fast reconnect end to end: ``eapol_test -r 3`` resumes its TLS session on every reconnect.

PEAPv0 and TTLS, TLS 1.2 (session ids: wpa_supplicant turns tickets off for PEAP and
TTLS) and TLS 1.3 (tickets). The reconnects skip the inner method and are accepted with
keys from the resumed session. Between the first sign-in and the reconnect a relay
(``holding_proxy``) lets the test change the member through the admin commands: a
changed PIN or a disabled member is refused on the reconnect.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.integration.holding_proxy import holding_proxy
from tests.integration.test_eap import Eap, _eap_site

pytestmark = pytest.mark.tools

RESUMED = "OpenSSL: Handshake finished - resumed=1"
FULL = "OpenSSL: Handshake finished - resumed=0"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    """A server of its own: these tests change members."""
    work = tmp_path_factory.mktemp("eap-resume")
    with _eap_site(f"sqlite:///{work / 'radius.db'}", work) as eap:
        yield eap


def _station() -> str:
    """A Calling-Station-Id of its own, to find one run's lines in the log."""
    return "02:00:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def _lines(site: Eap, station: str, count: int) -> list[dict]:
    """The run's final access lines (accept or reject), once ``count`` are logged."""
    dashed = station.replace(":", "-").upper()
    return site.server.find(
        "access",
        at_least=count,
        timeout=30.0,
        where=lambda e: (
            e.get("calling_station", "").upper().replace(":", "-") == dashed
            and e["outcome"] != "challenge"
        ),
    )


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap", "ttls-eap-mschapv2"])
def test_reconnects_resume_and_skip_the_pin_check(site: Eap, method: str, tls13: bool) -> None:
    # A member of its own: each run's device counts towards the device limit.
    email, pin = _member(site)
    station = _station()
    result = site.run(method, tls13, email, pin, reauth=3, extra=(f"-M{station}",), timeout=60)
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.count(FULL) == 1
    assert result.stdout.count(RESUMED) == 3
    # Four accepts, each with the keys eapol_test derived: the resumed ones from the session.
    assert "MPPE keys OK: 4  mismatch: 0" in result.stdout
    lines = [e for e in _lines(site, station, 4) if e["outcome"] == "accept"]
    assert len(lines) == 4, site.server.output()[-3000:]
    version = "TLSv1.3" if tls13 else "TLSv1.2"
    assert all(version in e["detail"] and e["user"] == email for e in lines)
    assert ["resumed=true" in e["detail"] for e in lines] == [False, True, True, True]


def _member(site: Eap, workers: int = 1) -> tuple[str, str]:
    """A new member of this test's own, with a PIN no one else has, known to every worker.

    The CLI writes the database; each server process applies the change a little later
    (SQLite: its next poll). A sign-in sent before that is rightly ``unknown_user``, and
    fast handshakes reach the PIN check within that window: wait for every worker."""
    email = f"m{secrets.token_hex(4)}@example.org"
    for _ in range(5):
        pin = f"{secrets.randbelow(90000) + 10000}"
        since = len(site.server.events)
        made = site.cli("customer", "add", email, "--pin", pin)
        if made.code == 0:
            applied = site.server.find(
                "customers_updated", timeout=60, since=since, at_least=workers
            )
            assert len(applied) >= workers, f"{workers} worker(s) did not apply the new member"
            return email, pin
    raise AssertionError(made.err)


def _change_before_reconnect(
    site: Eap, method: str, tls13: bool, change: tuple[str, ...], email: str, pin: str
) -> tuple[str, list[dict]]:
    """Sign in, then run ``customer <change>`` before the reconnect; (eapol_test output, lines)."""
    station = _station()
    with holding_proxy(("127.0.0.1", site.server.auth_port)) as proxy:
        since = len(site.server.events)
        # The first sign-in passes; the reconnect's requests wait in the relay.
        runs: list[subprocess.CompletedProcess[str]] = []
        thread = threading.Thread(
            target=lambda: runs.append(
                site.run(
                    method,
                    tls13,
                    email,
                    pin,
                    reauth=1,
                    extra=(f"-M{station}",),
                    port=proxy.port,
                    # The admin command runs meanwhile (seconds on a loaded machine).
                    timeout=90,
                )
            )
        )
        thread.start()
        assert proxy.paused.wait(60), "no first Access-Accept"
        changed = site.cli("customer", *change)
        assert changed.code == 0, changed.err
        site.server.wait_for("customers_updated", since=since)
        proxy.release()
        thread.join(120)
    assert runs, "eapol_test did not finish"
    return runs[0].stdout, _lines(site, station, 2)


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap"])
def test_a_pin_changed_before_the_reconnect_is_refused(site: Eap, method: str, tls13: bool) -> None:
    email, pin = _member(site)
    new_pin = f"{(int(pin) + 1) % 90000 + 10000}"
    output, lines = _change_before_reconnect(
        site, method, tls13, ("set-pin", email, new_pin), email, pin
    )
    # The TLS session still resumes, but what it proved is the old PIN: refused as a
    # device still holding the PIN from before the change.
    assert output.count(RESUMED) == 1, output[-3000:]
    assert "CTRL-EVENT-EAP-FAILURE" in output
    assert [(e["outcome"], e["reason"]) for e in lines] == [
        ("accept", "ok"),
        ("reject", "stale_pin"),
    ]
    assert "resumed=true" in lines[1]["detail"]


@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap"])
def test_a_member_disabled_before_the_reconnect_is_refused(site: Eap, method: str) -> None:
    email, pin = _member(site)
    output, lines = _change_before_reconnect(site, method, True, ("disable", email), email, pin)
    assert output.count(RESUMED) == 1, output[-3000:]
    assert "CTRL-EVENT-EAP-FAILURE" in output
    assert [(e["outcome"], e["reason"]) for e in lines] == [
        ("accept", "ok"),
        ("reject", "inactive"),
    ]
    # Judged like any sign-in, the PIN proven by the session.
    assert "resumed=true" in lines[1]["detail"]


def test_a_member_removed_before_the_reconnect_is_refused(site: Eap) -> None:
    email, pin = _member(site)
    output, lines = _change_before_reconnect(site, "ttls-pap", False, ("remove", email), email, pin)
    assert "CTRL-EVENT-EAP-FAILURE" in output
    assert [(e["outcome"], e["reason"]) for e in lines] == [
        ("accept", "ok"),
        ("reject", "unknown_user"),
    ]


# --workers: a device roaming between NAS ports resumes on the worker owning it:
# tests/integration/test_worker_affinity.py.
