"""What members are told to trust (eap/trust.py) and their Apple profile (eap/apple_profile.py).

Three ways a server's certificate can be set up: the generated private CA, a
certificate from a CA devices already trust (no anchor to hand out), and a
self-signed server certificate (its own anchor). Plus the ``wifi_ssid`` setting.
"""

from __future__ import annotations

import datetime as dt
import os
import plistlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from radius_server.admin.portal import PortalAdmin
from radius_server.config import ConfigError, load_settings
from radius_server.eap.apple_profile import ProfileFor, profile_bytes
from radius_server.eap.certificates import generate
from radius_server.eap.trust import eap_trust

NAME = "radius.hive.example"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``radius-server certs generate``'s files."""
    directory = tmp_path_factory.mktemp("certs")
    generate(directory, NAME, "Hive")
    return directory


def _self_signed(directory: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wifi.self.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path = directory / "self.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _profile(trust: object, ssid: str = "Hive") -> dict[str, object]:
    return plistlib.loads(profile_bytes(ProfileFor("ana@example.com", ssid, "Hive", trust)))  # type: ignore[arg-type]


def test_the_generated_ca_is_the_anchor(generated: Path) -> None:
    """Chain = ca.pem: the CA is handed out; the server's name is what devices check."""
    trust = eap_trust(generated / "server.pem", generated / "ca.pem")
    assert trust is not None and trust.anchor is not None
    assert trust.anchor_der() == (generated / "ca.der").read_bytes()
    assert trust.server_names == (NAME,)
    assert trust.anchor_name == "Hive Wi-Fi CA"
    assert len(trust.anchor_sha256.split(":")) == 32


def test_an_ecdsa_chain_is_handed_out_the_same_way(tmp_path: Path) -> None:
    """``certs generate --key-type ecdsa``: the P-256 CA is the anchor and the root payload."""
    generate(tmp_path, NAME, "Hive", key_type="ecdsa")
    trust = eap_trust(tmp_path / "server.pem", tmp_path / "ca.pem")
    assert trust is not None and trust.anchor is not None
    assert isinstance(trust.anchor.public_key(), ec.EllipticCurvePublicKey)
    assert trust.anchor_der() == (tmp_path / "ca.der").read_bytes()
    assert trust.server_names == (NAME,)
    payloads = _profile(trust)["PayloadContent"]
    root = next(p for p in payloads if p["PayloadType"] == "com.apple.security.root")  # type: ignore[attr-defined]
    assert root["PayloadContent"] == (tmp_path / "ca.der").read_bytes()
    wifi = next(p for p in payloads if p["PayloadType"] == "com.apple.wifi.managed")  # type: ignore[attr-defined]
    eap = wifi["EAPClientConfiguration"]
    assert eap["PayloadCertificateAnchorUUID"] == [root["PayloadUUID"]]
    assert eap["TLSTrustedServerNames"] == [NAME]


def test_a_certificate_from_a_trusted_ca_hands_out_nothing(generated: Path) -> None:
    """No self-signed certificate anywhere: no root payload, no anchor, the name still pinned."""
    trust = eap_trust(generated / "server.pem", None)
    assert trust is not None and trust.anchor is None
    assert trust.issuer == "Hive Wi-Fi CA"
    profile = _profile(trust)
    payloads = profile["PayloadContent"]
    assert [p["PayloadType"] for p in payloads] == ["com.apple.wifi.managed"]  # type: ignore[attr-defined]
    eap = payloads[0]["EAPClientConfiguration"]  # type: ignore[index]
    assert "PayloadCertificateAnchorUUID" not in eap
    assert eap["TLSTrustedServerNames"] == [NAME]


def test_a_self_signed_server_certificate_is_its_own_anchor(tmp_path: Path) -> None:
    """No SAN: the common name is the name devices check."""
    path = _self_signed(tmp_path)
    trust = eap_trust(path, None)
    assert trust is not None and trust.anchor is not None
    assert trust.server_names == ("wifi.self.example",)
    root = _profile(trust)["PayloadContent"][0]  # type: ignore[index]
    assert root["PayloadType"] == "com.apple.security.root"


def test_missing_or_broken_files_mean_no_eap(tmp_path: Path) -> None:
    """Nothing to trust: the page says secure Wi-Fi is not set up."""
    assert eap_trust(tmp_path / "missing.pem", None) is None
    (tmp_path / "junk.pem").write_text("not a certificate")
    assert eap_trust(tmp_path / "junk.pem", None) is None


def test_profiles_differ_per_member_and_network_but_not_per_download(generated: Path) -> None:
    """UUIDs are derived: same member and network -> same; another member -> different."""
    trust = eap_trust(generated / "server.pem", generated / "ca.pem")
    assert _profile(trust) == _profile(trust)
    other = plistlib.loads(profile_bytes(ProfileFor("bob@example.com", "Hive", "Hive", trust)))  # type: ignore[arg-type]
    assert other["PayloadUUID"] != _profile(trust)["PayloadUUID"]
    assert _profile(trust, "Other net")["PayloadIdentifier"] != _profile(trust)["PayloadIdentifier"]


def test_wifi_ssid_defaults_to_the_space_name_and_is_at_most_32_octets() -> None:
    """Empty: the space name, cut to 32 octets on a character boundary; too long: refused."""
    settings = load_settings(os.devnull, environ={"RADIUS_SPACE_NAME": "Café " * 10})
    ssid = PortalAdmin(None, "test", settings).ssid()  # type: ignore[arg-type]
    assert ssid.startswith("Café") and len(ssid.encode()) <= 32
    named = load_settings(os.devnull, environ={"RADIUS_WIFI_SSID": "Hive Members"})
    assert PortalAdmin(None, "test", named).ssid() == "Hive Members"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="wifi_ssid"):
        load_settings(os.devnull, environ={"RADIUS_WIFI_SSID": "é" * 17})
