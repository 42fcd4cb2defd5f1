"""What a member's device must trust to join the Wi-Fi: the CA behind the EAP certificate.

Read from the files EAP serves (``Settings.tls_files()``, docs/wpa-enterprise.md
section 1), which the caller passes (the eap package reads no settings). The
anchor handed to members is the self-signed certificate of the chain (the
generated ``ca.pem``, or the root of ``tls_ca_file``); when the chain has none,
a self-signed server certificate is its own anchor; otherwise the server
certificate comes from a CA devices already trust (a public CA) and there is
nothing to hand out. The server's DNS names are what a device checks the
certificate against (Apple's TLSTrustedServerNames).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from radius_server.eap.certificates import fingerprint


@dataclass(frozen=True, slots=True)
class EapTrust:
    """The server certificate's names and issuer, and the CA certificate to trust (or None)."""

    server_names: tuple[str, ...]
    issuer: str
    anchor: x509.Certificate | None

    @property
    def anchor_name(self) -> str:
        """The anchor's common name (or its whole subject)."""
        if self.anchor is None:
            return ""
        return _common_name(self.anchor.subject)

    @property
    def anchor_sha256(self) -> str:
        """The anchor's SHA-256 fingerprint as devices show it (AA:BB:...)."""
        return fingerprint(self.anchor) if self.anchor is not None else ""

    def anchor_pem(self) -> bytes:
        """The anchor in PEM."""
        assert self.anchor is not None
        return self.anchor.public_bytes(serialization.Encoding.PEM)

    def anchor_der(self) -> bytes:
        """The anchor in DER (what ``.crt``/``.cer`` downloads and Apple profiles carry)."""
        assert self.anchor is not None
        return self.anchor.public_bytes(serialization.Encoding.DER)


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, x509.InvalidSignature):
        return False
    return True


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        alt = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names = alt.value.get_values_for_type(x509.DNSName)  # type: ignore[attr-defined]
    except x509.ExtensionNotFound:
        names = []
    if not names:
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        names = [str(cn[0].value)] if cn else []
    return tuple(str(n) for n in names)


def _certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def eap_trust(cert_file: Path, chain_file: Path | None) -> EapTrust | None:
    """What to trust for the EAP certificate ``cert_file`` (and its chain), None if unreadable.

    The paths are ``Settings.tls_files()``'s (the admin layer passes them).
    """
    try:
        server = _certs(cert_file)[0]
        chain = _certs(chain_file) if chain_file is not None else []
    except (OSError, ValueError, IndexError):
        return None
    roots = [c for c in chain if _self_signed(c)]
    anchor = roots[-1] if roots else (server if _self_signed(server) else None)
    return EapTrust(_names(server), _common_name(server.issuer), anchor)
