"""The server certificate for PEAP/TTLS: generate a trial CA, and check what we will serve.

A member's device checks our certificate against the CA it was told to trust
and against the server name ("domain") it was told to expect; both come from
here. A certificate that is expired, not yet valid, or does not match its key
must stop EAP at start-up with a clear message, not fail every handshake.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from radius_server.private_files import make_private_dir, write_private

# Apple devices refuse TLS server certificates valid for more than 825 days.
SERVER_CERT_DAYS = 825
CA_CERT_DAYS = 3650
# Warn this long before the server certificate expires.
EXPIRY_WARNING = dt.timedelta(days=30)
# ``certs generate --key-type``: RSA (2048-bit server key, 3072-bit CA) works with every
# device; ECDSA P-256 (both keys) makes the handshake's signature about 7x cheaper and the
# chain about half the size, one EAP round trip fewer (docs/architecture.md, *EAP
# handshake cost*), but a supplicant must offer ECDSA cipher suites (every current one does).
KEY_TYPES = ("rsa", "ecdsa")
DEFAULT_KEY_TYPE = "rsa"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CertificateError(ValueError):
    """The configured certificate cannot be served; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What an operator and the start-up log need to know about the served certificate."""

    subject: str
    names: tuple[str, ...]
    issuer: str
    not_after: dt.datetime
    sha256: str
    warnings: tuple[str, ...]
    key: str = ""  # e.g. "RSA 2048", "ECDSA P-256"


@dataclass(frozen=True, slots=True)
class GeneratedFiles:
    """Paths written by :func:`generate`."""

    directory: Path
    ca_cert: Path
    ca_der: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes, private: bool = False) -> None:
    if private:
        # 0600 from the start and whatever the umask, also when --force replaces a
        # key an older version left 0644 (open() keeps an existing file's mode).
        write_private(path, data)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as colon-separated upper-case hex (how devices show it)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _new_key(key_type: str, *, ca: bool) -> PrivateKey:
    """A fresh key: RSA 2048 (server) or 3072 (CA), or ECDSA on P-256 for both.

    P-256 gives about the security of RSA-3072 (NIST SP 800-57: 128 bits), so an
    ECDSA CA needs no bigger curve; one curve keeps every device's choice simple.
    """
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072 if ca else 2048)
    raise ValueError(f"key type {key_type!r}: expected one of {', '.join(KEY_TYPES)}")


def key_description(key: object) -> str:
    """``RSA 2048`` or ``ECDSA P-256`` (secp256r1): for ``certs show`` and the start-up log."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"ECDSA {names.get(key.curve.name, key.curve.name)}"
    return type(key).__name__


def _new_ca(
    organisation: str, now: dt.datetime, key_type: str = DEFAULT_KEY_TYPE
) -> tuple[PrivateKey, x509.Certificate]:
    ca_key = _new_key(key_type, ca=True)
    ca_name = _name(f"{organisation} Wi-Fi CA"[:64])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca


def _existing_ca(directory: Path, now: dt.datetime) -> tuple[PrivateKey, x509.Certificate] | None:
    """The CA a previous run left, if complete, valid for a while yet, and RSA or ECDSA.

    Kept whatever the new server key's type: devices already trust it, and an RSA CA
    signs an ECDSA server key as well as the reverse.
    """
    key_path, cert_path = directory / "ca.key", directory / "ca.pem"
    if not (key_path.exists() and cert_path.exists()):
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return None
    if cert.not_valid_after_utc < now + dt.timedelta(days=SERVER_CERT_DAYS):
        return None  # would expire before the new server certificate
    return key, cert


def generate(
    directory: Path,
    hostname: str,
    organisation: str,
    now: dt.datetime | None = None,
    *,
    reuse_ca: bool = True,
    key_type: str = DEFAULT_KEY_TYPE,
) -> GeneratedFiles:
    """Write a private CA and a server certificate for ``hostname`` into ``directory``.

    With ``reuse_ca`` a CA left by a previous run is kept (devices that trust it go
    on working) and only the server certificate is new. The CA key is kept (0600).
    ``key_type`` (``rsa`` or ``ecdsa``, see KEY_TYPES) is the server key's, and a new
    CA's: a kept CA keeps its own.
    """
    if key_type not in KEY_TYPES:
        raise ValueError(f"key type {key_type!r}: expected one of {', '.join(KEY_TYPES)}")
    now = now or dt.datetime.now(dt.UTC)
    make_private_dir(directory)  # it holds the keys
    existing = _existing_ca(directory, now) if reuse_ca else None
    ca_key, ca = existing or _new_ca(organisation, now, key_type)
    ca_name = ca.subject
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    key = _new_key(key_type, ca=False)
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname[:64]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA key transport (TLS 1.2 RSA suites) only; an ECDSA key only signs.
                key_encipherment=key_type == "rsa",
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Windows refuses an EAP server certificate without Server Authentication.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Android 11+ and iOS match the "domain" the member enters against the SAN.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    files = GeneratedFiles(
        directory=directory,
        ca_cert=directory / "ca.pem",
        ca_der=directory / "ca.der",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
    )
    no_pass = serialization.NoEncryption()
    if existing is None:
        _write(files.ca_key, ca_key.private_bytes(pem, pkcs8, no_pass), private=True)
    _write(files.server_key, key.private_bytes(pem, pkcs8, no_pass), private=True)
    _write(files.ca_cert, ca.public_bytes(pem))
    _write(files.ca_der, ca.public_bytes(serialization.Encoding.DER))
    _write(files.server_cert, server.public_bytes(pem))
    return files


def _load_pem_certs(path: Path, what: str) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CertificateError(f"{what} {path} not found") from None
    except OSError as exc:
        raise CertificateError(f"{what} {path} cannot be read: {exc.strerror}") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"{what} {path} is not a PEM certificate") from None
    return certs


def check_certificate(
    cert_file: Path, key_file: Path, chain_file: Path | None, now: dt.datetime | None = None
) -> CertificateInfo:
    """Validate what EAP will serve: readable, in its validity window, matching its key.

    Raises:
        CertificateError: with a message fit for the operator (no key material).
    """
    now = now or dt.datetime.now(dt.UTC)
    cert = _load_pem_certs(cert_file, "server certificate")[0]
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except FileNotFoundError:
        raise CertificateError(f"server key {key_file} not found") from None
    except (ValueError, TypeError):
        raise CertificateError(
            f"server key {key_file} is not an unencrypted PEM private key"
        ) from None
    if cert.not_valid_after_utc <= now:
        raise CertificateError(
            f"server certificate {cert_file} expired on {cert.not_valid_after_utc:%Y-%m-%d}: "
            "renew it (radius-server certs generate, or your CA) before enabling EAP"
        )
    if cert.not_valid_before_utc > now:
        raise CertificateError(
            f"server certificate {cert_file} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: check the clock"
        )
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != cert.public_key().public_bytes(der, pub):
        raise CertificateError(f"server key {key_file} does not match certificate {cert_file}")
    if chain_file is not None:
        _load_pem_certs(chain_file, "certificate chain")
    warnings: list[str] = []
    if cert.not_valid_after_utc - now < EXPIRY_WARNING:
        warnings.append(f"server certificate expires on {cert.not_valid_after_utc:%Y-%m-%d}")
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in usages:
            warnings.append("server certificate lacks Server Authentication usage (Windows)")
    except x509.ExtensionNotFound:
        pass
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    if not names:
        warnings.append("server certificate has no DNS name (Android needs one as 'domain')")
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        names=names,
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(cert),
        warnings=tuple(warnings),
        key=key_description(cert.public_key()),
    )
