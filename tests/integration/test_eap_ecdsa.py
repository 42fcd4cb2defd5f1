"""``certs generate --key-type ecdsa``: a P-256 server key and CA, end to end with eapol_test.

PEAP/MS-CHAPv2 and TTLS/PAP over TLS 1.2 and 1.3 against a server whose certificate
and CA are ECDSA P-256 (README, *Certificates*): the supplicant verifies the chain and
the server name, negotiates an ECDSA suite, and the member signs in with MPPE keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.test_eap import MEMBER, MEMBER_PIN, Eap, _eap_site

pytestmark = pytest.mark.tools

# TLS_ECDHE_ECDSA_WITH_{AES_128,AES_256}_{CBC_SHA,CBC_SHA256/384,GCM}, CHACHA20_POLY1305.
ECDHE_ECDSA_SUITES = {0xC009, 0xC00A, 0xC023, 0xC024, 0xC02B, 0xC02C, 0xCCA9}


@pytest.fixture(scope="module")
def eap_ecdsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    """A server on SQLite with an ECDSA P-256 certificate from a new P-256 CA."""
    work = tmp_path_factory.mktemp("eap-ecdsa")
    with _eap_site(f"sqlite:///{work / 'radius.db'}", work, key_type="ecdsa") as site:
        yield site


def test_the_server_says_it_serves_an_ecdsa_key(eap_ecdsa: Eap) -> None:
    line = eap_ecdsa.server.wait_for("eap_enabled")
    assert line["key"] == "ECDSA P-256"


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap"])
def test_member_signs_in_over_an_ecdsa_certificate(
    eap_ecdsa: Eap, method: str, tls13: bool
) -> None:
    result = eap_ecdsa.run(method, tls13, MEMBER, MEMBER_PIN)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in result.stdout
    # The supplicant saw a P-256 server key...
    served = result.stdout.split("Peer certificate - depth 0", 1)[1].split("CTRL-EVENT", 1)[0]
    assert "id-ecPublicKey" in served and "prime256v1" in served
    if not tls13:
        # ...and under TLS 1.2 chose an ECDHE_ECDSA suite (RFC 8422 6, RFC 7905).
        suite = re.search(r"Server selected cipher suite 0x([0-9a-f]{4})", result.stdout)
        assert suite is not None and int(suite.group(1), 16) in ECDHE_ECDSA_SUITES
    version = "TLSv1.3" if tls13 else "TLSv1.2"
    lines = eap_ecdsa.server.find(
        "access",
        outcome="accept",
        method=method,
        user=MEMBER,
        where=lambda e: version in e.get("detail", ""),
    )
    assert lines, eap_ecdsa.server.output()[-3000:]


def test_a_wrong_pin_still_fails(eap_ecdsa: Eap) -> None:
    result = eap_ecdsa.run("ttls-pap", False, MEMBER, "99999")
    assert result.returncode != 0
    eap_ecdsa.server.wait_for("access", outcome="reject", method="ttls-pap", user=MEMBER)
