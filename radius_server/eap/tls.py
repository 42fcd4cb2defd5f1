"""The TLS server inside PEAP and TTLS: pyOpenSSL over memory BIOs, no socket.

The standard library's ``ssl`` cannot export keying material; pyOpenSSL can
(docs/architecture.md, Protocol pitfalls). Records go in with :meth:`TlsTunnel.receive` and come out
with :meth:`TlsTunnel.take_output`; the EAP layer carries them.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from cryptography import x509
from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _ssl_lib

from radius_server.eap.resumption import session_key

_VERSIONS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}
# Read buffer for one bio_read / recv call; TLS records are at most 16 KiB + overhead.
_CHUNK = 16384 + 2048
# Smallest buffer for one SSL_read; and buffers OpenSSL fills need no zeroing first.
_MIN_READ = 1024
_no_zero_new = _ffi.new_allocator(should_clear_after_alloc=False)
# RFC 9427 2.1 / 2.3: TLS 1.3 key material for EAP-TLS, reused by PEAP and TTLS with
# the EAP type as context; TLS 1.2 labels are per method (RFC 5281 8, PEAP draft 2.8).
_TLS13_LABEL = b"EXPORTER_EAP_TLS_Key_Material"
# Sessions resumable only by this server's EAP (RFC 5246 F.1.4: the session id context).
_SESSION_ID_CONTEXT = b"radius-server eap"
# Handshake state changes at which the session's secret is read (see TlsTunnel._noted).
_NOTE_AT = SSL.SSL_CB_LOOP | SSL.SSL_CB_HANDSHAKE_DONE
_TLS13_VERSION = SSL.TLS1_3_VERSION
# SSL_get_error after SSL_read: nothing more now (a whole message read), or the peer closed.
_END_OF_DATA = (_ssl_lib.SSL_ERROR_WANT_READ, _ssl_lib.SSL_ERROR_ZERO_RETURN)


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
        session_lifetime: int = 0,
    ) -> None:
        """``session_lifetime``: seconds a TLS session may be resumed (0: never, every
        conversation is a full handshake)."""
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.set_min_proto_version(_VERSIONS[min_version])
        ctx.set_max_proto_version(_VERSIONS[max_version])
        options = SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION
        self.session_lifetime = max(session_lifetime, 0)
        if self.session_lifetime:
            # Fast reconnect (docs/architecture.md, *Fast reconnect*): stateless tickets
            # (TLS 1.2 RFC 5077, TLS 1.3) and OpenSSL's own bounded cache for TLS 1.2
            # session ids (at most 20,480 sessions, OpenSSL's default; pyOpenSSL cannot
            # change it). Both expire after session_lifetime; the ticket keys are this
            # process's own, random, made with the context.
            ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
            ctx.set_session_id(_SESSION_ID_CONTEXT)
            ctx.set_timeout(session_lifetime)
        else:
            # No resumption: each conversation is a full handshake with fresh keys.
            # (Under TLS 1.3 OpenSSL still sends ~160 octets of unusable tickets.)
            options |= SSL.OP_NO_TICKET
            ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        ctx.set_options(options)
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
        return TlsTunnel(self._context, self.session_lifetime > 0)


class TlsTunnel:
    """One TLS server connection driven by bytes in, bytes out."""

    __slots__ = (
        "__weakref__",
        "_conn",
        "_received",
        "_resumable",
        "_unversioned",
        "established",
        "session_keys",
    )

    def __init__(self, context: SSL.Context, resumable: bool = False) -> None:
        """``resumable``: the context resumes sessions (``session_keys`` are recorded)."""
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
        # A weak reference: no cycle to keep ~70 KiB of TLS state alive until a GC pass.
        self._conn.set_app_data(weakref.ref(self))
        self.established = False
        # Keys (resumption.session_key) of the TLS sessions this handshake used or
        # issued, in the order seen: filled only when resumption is on.
        self.session_keys: list[bytes] = []
        self._resumable = resumable
        # Resumable and the ClientHello not read yet: see receive().
        self._unversioned = resumable
        self._received = 0  # octets of the last records fed in (read's buffer size)

    @property
    def resumed(self) -> bool:
        """True when the handshake resumed an earlier session (abbreviated handshake)."""
        # pyOpenSSL has no accessor; this is cryptography's binding of the same libssl.
        return bool(_ssl_lib.SSL_session_reused(self._conn._ssl))

    @property
    def resumed_key(self) -> bytes | None:
        """The key of the session this handshake resumed, or None after a full handshake.

        The first secret seen after the ClientHello: the TLS 1.2 master secret (the same
        as when the session was made) or the PSK of the TLS 1.3 ticket presented, before
        OpenSSL replaces it with the new tickets' ones.
        """
        if not self.established or not self.resumed or not self.session_keys:
            return None
        return self.session_keys[0]

    def keep_session(self) -> None:
        """Keep this session resumable after the tunnel is dropped (call after an accept).

        OpenSSL removes from its cache the session of a connection freed without a
        close_notify, as a "bad" one; EAP ends with EAP-Success instead, so we mark
        the close as sent. A conversation that is refused keeps the default: its
        TLS 1.2 session is forgotten.
        """
        self._conn.set_shutdown(SSL.SENT_SHUTDOWN)

    def _noted(self) -> None:
        """Record the current session's secret, as a key (never the secret itself).

        Under TLS 1.3, called once the ClientHello is read (the PSK of a ticket
        presented), then at each handshake state change (the connection's info
        callback, :meth:`_follow_tls13`): each NewSessionTicket gets its own PSK and
        the session object keeps only the last one, so the secrets are caught as they
        pass. Under TLS 1.2 a session has one secret, the master secret, the same when
        it is made and when it is resumed (from the cache or a ticket): read once when
        the handshake ends (:meth:`receive`).
        """
        # Not Connection.master_key(): it raises on an empty secret (a TLS 1.3 session
        # before its first ticket), and an exception cannot cross OpenSSL's callback.
        session = _ssl_lib.SSL_get_session(self._conn._ssl)
        if session == _ffi.NULL:
            return
        length = _ssl_lib.SSL_SESSION_get_master_key(session, _ffi.NULL, 0)
        if length <= 0:
            return
        buffer = _ffi.new("unsigned char[]", length)
        _ssl_lib.SSL_SESSION_get_master_key(session, buffer, length)
        secret = _ffi.buffer(buffer, length)[:]
        if secret.strip(b"\x00"):
            key = session_key(secret)
            if key not in self.session_keys:
                self.session_keys.append(key)

    def receive(self, records: bytes) -> None:
        """Feed TLS records from the peer, then advance the handshake if still running.

        Raises:
            TlsError: the handshake failed (bad ClientHello, no shared cipher...).
        """
        self._received = len(records)
        if records and _ssl_lib.BIO_write(self._conn._into_ssl, records, len(records)) <= 0:
            raise TlsError("memory BIO refused the records")
        if not self.established:
            # Through the bindings: pyOpenSSL's do_handshake raises WantReadError to say
            # "send me more", which is most rounds of a handshake.
            ssl = self._conn._ssl
            result = _ssl_lib.SSL_do_handshake(ssl)
            if result == 1:
                self.established = True
                if self._resumable and _ssl_lib.SSL_version(ssl) != _TLS13_VERSION:
                    self._noted()
            elif _ssl_lib.SSL_get_error(ssl, result) != _ssl_lib.SSL_ERROR_WANT_READ:
                self._raise(result)
            elif self._unversioned and _ssl_lib.SSL_get_current_cipher(ssl) != _ffi.NULL:
                # The ClientHello is read: version and cipher are chosen (SSL_version
                # says 1.3, the highest, until then, so the cipher tells).
                self._unversioned = False
                if _ssl_lib.SSL_version(ssl) == _TLS13_VERSION:
                    self._follow_tls13(ssl)

    def _follow_tls13(self, ssl: object) -> None:
        """TLS 1.3 was chosen (the ClientHello is read): note its secrets from now on.

        The session now holds the PSK of the ticket presented, if any (a resumption):
        noted first. Its new tickets come after the peer's Finished, each with its own
        PSK: the info callback, set on this connection only, notes them as they pass.
        A TLS 1.2 handshake never gets the callback: its one secret is read once, at
        the end, rather than at each of ~12 state changes through Python (about 6 us
        each, a tenth of a resumed sign-in's server CPU).
        """
        self._noted()
        # Our own C callback, not pyOpenSSL's set_info_callback: its wrapper finds the
        # Connection in a WeakValueDictionary before every call.
        _ssl_lib.SSL_set_info_callback(ssl, _INFO_CALLBACK)

    def take_output(self) -> bytes:
        """Everything TLS wants to send to the peer now."""
        # BIO_read through the bindings: pyOpenSSL's bio_read raises WantReadError when
        # the BIO is empty (a PEAP round with nothing to send).
        bio = self._conn._from_ssl
        parts = []
        while True:
            buffer = _no_zero_new("char[]", _CHUNK)
            count = _ssl_lib.BIO_read(bio, buffer, _CHUNK)
            if count <= 0:
                break
            parts.append(_ffi.buffer(buffer, count)[:])
            if count < _CHUNK:
                # A memory BIO hands out all it holds up to the size asked: it is empty
                # now: no second call.
                break
        return b"".join(parts)

    def read(self) -> bytes:
        """Decrypted application data received so far (b"" when none).

        Raises:
            TlsError: a record failed to decrypt or the peer sent an alert.
        """
        # SSL_read through the bindings: pyOpenSSL's recv raises WantReadError at the
        # end of every message.
        ssl = self._conn._ssl
        # Plaintext is never longer than the records it came in: a phase-2 message is a
        # few hundred octets, so no zeroed 18 KiB buffer per round (more is read in turns).
        size = min(max(self._received, _MIN_READ), _CHUNK)
        buffer = _no_zero_new("char[]", size)
        parts = []
        while True:
            result = _ssl_lib.SSL_read(ssl, buffer, size)
            if result > 0:
                parts.append(_ffi.buffer(buffer, result)[:])
                continue
            if _ssl_lib.SSL_get_error(ssl, result) not in _END_OF_DATA:
                self._raise(result)
            return b"".join(parts)

    def _raise(self, result: int) -> None:
        """Raise TlsError for a failed libssl call that returned ``result``."""
        try:
            self._conn._raise_ssl_error(self._conn._ssl, result)
        except SSL.Error as exc:
            raise TlsError(_reason(exc)) from None
        raise TlsError(f"TLS call failed ({result})")

    def write(self, data: bytes) -> None:
        """Encrypt application data; collect the records with :meth:`take_output`."""
        # SSL_write over a memory BIO takes all of it or fails (no partial writes).
        result = _ssl_lib.SSL_write(self._conn._ssl, data, len(data))
        if result <= 0:
            self._raise(result)

    @property
    def version(self) -> str:
        """``TLSv1.2`` or ``TLSv1.3`` once negotiated."""
        return self._conn.get_protocol_version_name()

    @property
    def is_tls13(self) -> bool:
        """True when TLS 1.3 was negotiated (RFC 9427 rules apply)."""
        # The version number, not get_protocol_version_name()'s text: the same field of
        # the connection (SSL_version), without making and decoding a string.
        return _ssl_lib.SSL_version(self._conn._ssl) == _TLS13_VERSION

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


def _note_session(ssl: object, where: int, _ret: int) -> None:
    """A TLS 1.3 connection's info callback: let its tunnel note its session's secret."""
    if where & _NOTE_AT:
        conn = SSL.Connection._reverse_mapping.get(ssl)
        ref = conn.get_app_data() if conn is not None else None
        tunnel = ref() if ref is not None else None
        if tunnel is not None and not tunnel.established:
            tunnel._noted()


# One C entry point for every connection (cffi keeps it alive as long as this module).
_INFO_CALLBACK = _ffi.callback("void (*)(const SSL *, int, int)", _note_session)


def _reason(exc: SSL.Error) -> str:
    """OpenSSL's reason strings, e.g. 'no shared cipher'; no buffers, no secrets."""
    try:
        reasons = [str(item[2]) for item in exc.args[0] if len(item) > 2]
    except (IndexError, TypeError):
        reasons = []
    return "; ".join(reasons) or type(exc).__name__
