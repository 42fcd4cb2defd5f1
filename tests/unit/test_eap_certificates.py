"""Trial certificates: what generate writes, what check_certificate refuses, CA reuse."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from radius_server.config import Settings
from radius_server.eap.certificates import CertificateError, check_certificate, generate

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_generated_files_are_what_devices_need(tmp_path: Path) -> None:
    files = generate(tmp_path, "radius.test.lan", "Harbour", NOW)
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 825  # Apple's limit
    info = check_certificate(files.server_cert, files.server_key, files.ca_cert, NOW)
    assert info.names == ("radius.test.lan",)
    assert info.warnings == ()
    assert "Harbour Wi-Fi CA" in info.issuer


def test_renewal_keeps_the_ca_unless_asked(tmp_path: Path) -> None:
    first = generate(tmp_path, "radius.test.lan", "Harbour", NOW)
    ca = first.ca_cert.read_bytes()
    server = first.server_cert.read_bytes()
    generate(tmp_path, "radius.test.lan", "Harbour", NOW)
    assert first.ca_cert.read_bytes() == ca
    assert first.server_cert.read_bytes() != server
    generate(tmp_path, "radius.test.lan", "Harbour", NOW, reuse_ca=False)
    assert first.ca_cert.read_bytes() != ca


def test_expired_not_yet_valid_and_mismatched_are_refused(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", "radius.test.lan", "X", NOW)
    two = generate(tmp_path / "two", "radius.test.lan", "X", NOW)
    with pytest.raises(CertificateError, match="expired on"):
        check_certificate(one.server_cert, one.server_key, None, NOW + dt.timedelta(days=900))
    with pytest.raises(CertificateError, match="not valid before"):
        check_certificate(one.server_cert, one.server_key, None, NOW - dt.timedelta(days=1))
    with pytest.raises(CertificateError, match="does not match"):
        check_certificate(one.server_cert, two.server_key, None, NOW)
    with pytest.raises(CertificateError, match="not found"):
        check_certificate(tmp_path / "nope.pem", one.server_key, None, NOW)
    soon = check_certificate(one.server_cert, one.server_key, None, NOW + dt.timedelta(days=810))
    assert any("expires" in w for w in soon.warnings)


def test_default_paths_are_where_generate_writes(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    cert, key, chain = settings.tls_files()
    assert (cert, key, chain) == (
        tmp_path / "certs/server.pem",
        tmp_path / "certs/server.key",
        None,
    )
    generate(tmp_path / "certs", "radius.test.lan", "X", NOW)
    assert settings.tls_files()[2] == tmp_path / "certs" / "ca.pem"
