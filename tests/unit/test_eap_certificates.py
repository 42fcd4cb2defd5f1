"""Trial certificates: what generate writes, what check_certificate refuses, CA reuse."""

from __future__ import annotations

import contextlib
import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import SSL

from radius_server.config import Settings
from radius_server.eap.certificates import CertificateError, check_certificate, generate
from radius_server.eap.tls import TlsServer

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


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage:
    return cert.extensions.get_extension_for_class(x509.KeyUsage).value


def test_ecdsa_makes_p256_keys_for_the_server_and_a_new_ca(tmp_path: Path) -> None:
    files = generate(tmp_path, "radius.test.lan", "Harbour", NOW, key_type="ecdsa")
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    for public in (cert.public_key(), ca.public_key()):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(public.curve, ec.SECP256R1)
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    # An ECDSA key signs (ECDHE_ECDSA); it never carries a premaster secret.
    assert _key_usage(cert).digital_signature and not _key_usage(cert).key_encipherment
    info = check_certificate(files.server_cert, files.server_key, files.ca_cert, NOW)
    assert info.key == "ECDSA P-256"
    assert info.warnings == ()


def test_rsa_stays_the_default(tmp_path: Path) -> None:
    files = generate(tmp_path, "radius.test.lan", "Harbour", NOW)
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    assert cert.public_key().key_size == 2048
    assert ca.public_key().key_size == 3072
    assert _key_usage(cert).key_encipherment
    assert check_certificate(files.server_cert, files.server_key, None, NOW).key == "RSA 2048"


def test_a_kept_ca_keeps_its_key_type(tmp_path: Path) -> None:
    """Devices trust the CA they have: switching the server key does not replace it."""
    first = generate(tmp_path, "radius.test.lan", "Harbour", NOW)
    ca = first.ca_cert.read_bytes()
    generate(tmp_path, "radius.test.lan", "Harbour", NOW, key_type="ecdsa")
    assert first.ca_cert.read_bytes() == ca
    cert = x509.load_pem_x509_certificate(first.server_cert.read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    info = check_certificate(first.server_cert, first.server_key, first.ca_cert, NOW)
    assert "Harbour Wi-Fi CA" in info.issuer
    # And an ECDSA CA is kept too.
    generate(tmp_path, "radius.test.lan", "Harbour", NOW, key_type="ecdsa", reuse_ca=False)
    ec_ca = first.ca_cert.read_bytes()
    generate(tmp_path, "radius.test.lan", "Harbour", NOW)
    assert first.ca_cert.read_bytes() == ec_ca


def test_an_unknown_key_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key type 'dsa'"):
        generate(tmp_path, "radius.test.lan", "Harbour", NOW, key_type="dsa")
    assert not (tmp_path / "server.pem").exists()


def test_the_tls_server_serves_an_ecdsa_certificate(tmp_path: Path) -> None:
    """OpenSSL takes the key and negotiates an ECDSA suite with a TLS 1.2 client."""
    files = generate(tmp_path, "radius.test.lan", "Harbour", NOW, key_type="ecdsa")
    server = TlsServer(files.server_cert, files.server_key, files.ca_cert, "1.2", "1.2")
    tunnel = server.new_tunnel()
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.load_verify_locations(str(files.ca_cert))
    ctx.set_verify(SSL.VERIFY_PEER, lambda *args: bool(args[-1]))
    client = SSL.Connection(ctx, None)
    client.set_connect_state()
    for _ in range(3):  # TLS 1.2: two flights each way
        if tunnel.established:
            break
        with contextlib.suppress(SSL.WantReadError):
            client.do_handshake()
        tunnel.receive(client.bio_read(65536))
        client.bio_write(tunnel.take_output())
    with contextlib.suppress(SSL.WantReadError):
        client.do_handshake()
    assert tunnel.established
    assert "ECDSA" in (client.get_cipher_name() or "")
    chain = client.get_peer_cert_chain()
    assert chain is not None and len(chain) == 2  # our certificate, then the CA
