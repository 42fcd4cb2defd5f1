"""The TLS server inside PEAP and TTLS: pyOpenSSL over memory BIOs, no socket.

The standard library's ``ssl`` cannot export keying material; pyOpenSSL can
(docs/architecture.md, Protocol pitfalls). Records go in with :meth:`TlsTunnel.receive` and come out
with :meth:`TlsTunnel.take_output`; the EAP layer carries them.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from OpenSSL import SSL

_VERSIONS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}
# Read buffer for one bio_read / recv call; TLS records are at most 16 KiB + overhead.
_CHUNK = 16384 + 2048
# RFC 9427 2.1 / 2.3: TLS 1.3 key material for EAP-TLS, reused by PEAP and TTLS with
# the EAP type as context; TLS 1.2 labels are per method (RFC 5281 8, PEAP draft 2.8).
_TLS13_LABEL = b"EXPORTER_EAP_TLS_Key_Material"


class TlsError(Exception):
    """The handshake or a record failed; the message is OpenSSL's reason, never data."""


class TlsServer:
    """The shared server context: certificate, key, chain and protocol versions."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        chain_file: Path | None = None,
        min_version: str = "1.2",
        max_version: str = "1.3",
    ) -> None:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.set_min_proto_version(_VERSIONS[min_version])
        ctx.set_max_proto_version(_VERSIONS[max_version])
        # No resumption: each conversation is a full handshake with fresh keys,
        # and no per-client session state to bound. (Under TLS 1.3 OpenSSL still
        # sends ~160 octets of unusable tickets; pyOpenSSL cannot set num_tickets.)
        ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
        ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        # Let OpenSSL free idle record buffers between messages.
        ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
        ctx.use_certificate_file(str(cert_file))
        ctx.use_privatekey_file(str(key_file))
        ctx.check_privatekey()
        if chain_file is not None:
            # Sent after our certificate, so a device shown "trust this server?" sees the CA.
            for cert in x509.load_pem_x509_certificates(chain_file.read_bytes()):
                ctx.add_extra_chain_cert(cert)
        # Member devices authenticate with a PIN inside the tunnel, never a client certificate.
        ctx.set_verify(SSL.VERIFY_NONE)
        self._context = ctx

    def new_tunnel(self) -> TlsTunnel:
        """A fresh server-side TLS connection waiting for a ClientHello."""
        return TlsTunnel(self._context)


class TlsTunnel:
    """One TLS server connection driven by bytes in, bytes out."""

    __slots__ = ("_conn", "established")

    def __init__(self, context: SSL.Context) -> None:
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
        self.established = False

    def receive(self, records: bytes) -> None:
        """Feed TLS records from the peer, then advance the handshake if still running.

        Raises:
            TlsError: the handshake failed (bad ClientHello, no shared cipher...).
        """
        if records:
            self._conn.bio_write(records)
        if not self.established:
            try:
                self._conn.do_handshake()
                self.established = True
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                raise TlsError(_reason(exc)) from None

    def take_output(self) -> bytes:
        """Everything TLS wants to send to the peer now."""
        parts = []
        while True:
            try:
                chunk = self._conn.bio_read(_CHUNK)
            except SSL.WantReadError:
                break
            parts.append(chunk)
            if len(chunk) < _CHUNK:
                # A memory BIO hands out all it holds up to the size asked: it is empty
                # now, and asking again would only raise WantReadError (~6 us each round).
                break
        return b"".join(parts)

    def read(self) -> bytes:
        """Decrypted application data received so far (b"" when none).

        Raises:
            TlsError: a record failed to decrypt or the peer sent an alert.
        """
        parts = []
        while True:
            try:
                chunk = self._conn.recv(_CHUNK)
            except (SSL.WantReadError, SSL.ZeroReturnError):
                break
            except SSL.Error as exc:
                raise TlsError(_reason(exc)) from None
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)

    def write(self, data: bytes) -> None:
        """Encrypt application data; collect the records with :meth:`take_output`."""
        try:
            self._conn.sendall(data)
        except SSL.Error as exc:
            raise TlsError(_reason(exc)) from None

    @property
    def version(self) -> str:
        """``TLSv1.2`` or ``TLSv1.3`` once negotiated."""
        return self._conn.get_protocol_version_name()

    @property
    def is_tls13(self) -> bool:
        """True when TLS 1.3 was negotiated (RFC 9427 rules apply)."""
        return self._conn.get_protocol_version_name() == "TLSv1.3"

    def export(self, label: bytes, length: int, context: bytes | None = None) -> bytes:
        """TLS keying material exporter (RFC 5705 / RFC 8446 7.5).

        Under TLS 1.2 "no context" and an empty context differ: pass None for
        the EAP labels (RFC 5216 2.3, RFC 5281 8).
        """
        return self._conn.export_keying_material(label, length, context)

    def msk(self, tls12_label: bytes, eap_type: int) -> bytes:
        """The 64-octet MSK: RFC 9427 2.1 under TLS 1.3, the method's PRF label under 1.2."""
        if self.is_tls13:
            return self.export(_TLS13_LABEL, 128, bytes((eap_type,)))[:64]
        return self.export(tls12_label, 64)


def _reason(exc: SSL.Error) -> str:
    """OpenSSL's reason strings, e.g. 'no shared cipher'; no buffers, no secrets."""
    try:
        reasons = [str(item[2]) for item in exc.args[0] if len(item) > 2]
    except (IndexError, TypeError):
        reasons = []
    return "; ".join(reasons) or type(exc).__name__
