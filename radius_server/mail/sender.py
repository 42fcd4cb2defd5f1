"""SMTP sending: one connection per batch, a rate limit, one result per recipient.

Security is ``none``, ``starttls`` (refused if the server does not offer it:
never a silent fall-back to plain text) or ``tls`` (implicit TLS, port 465),
always verified with ``ssl.create_default_context()``. A failure for one
recipient does not stop the others; a failure to connect or log in does, since
every later recipient would fail the same way, and they are reported as such.
Reasons name the server, the user and the server's reply, never the password,
and nothing here ever sees the PIN outside the message body.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from radius_server.config import ConfigError, Settings
from radius_server.logging import get_logger
from radius_server.mail.message import mailbox


def _log() -> Any:
    # Looked up per call: a module-level bound logger would freeze structlog's
    # configuration as it was at import, before the CLI configured it.
    return get_logger("mail")


# Stable error codes (JSON output, audit trail); the reason is the human sentence.
REFUSED_RECIPIENT = "refused_recipient"
REFUSED_SENDER = "refused_sender"
REFUSED_MESSAGE = "refused_message"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_FAILED = "connection_failed"
DISCONNECTED = "disconnected"
TLS_FAILED = "tls_failed"
NO_STARTTLS = "no_starttls"
AUTH_FAILED = "auth_failed"
AUTH_UNSUPPORTED = "auth_unsupported"
TIMEOUT = "timeout"
SMTP_ERROR = "smtp_error"

# RFC 5321 section 3.8: 421 means the server is closing the connection.
_CLOSING = 421


class TokenBucket:
    """At most ``rate_per_minute`` acquisitions a minute, bursts of up to ``capacity``.

    The default capacity of one spaces messages evenly (60 a minute is one a
    second), so no one-minute window ever holds more than the rate: that is what
    mail providers count before they block an account. ``clock`` and ``sleep``
    are injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        rate_per_minute: int,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0 or capacity < 1:
            raise ValueError("rate_per_minute must be positive and capacity at least 1")
        self._interval = 60.0 / rate_per_minute
        self._capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated = clock()

    def acquire(self) -> float:
        """Take one token, sleeping until there is one; return the seconds slept."""
        slept = 0.0
        while True:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity, self._tokens + elapsed / self._interval)
            self._updated = now
            # The epsilon keeps float rounding from asking for a sleep of 1e-17 s forever.
            if self._tokens >= 1 - 1e-9:
                self._tokens = max(0.0, self._tokens - 1)
                return slept
            delay = (1 - self._tokens) * self._interval
            self._sleep(delay)
            slept += delay


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to send, taken from the settings. ``repr`` hides the password."""

    host: str
    port: int
    security: str  # none | starttls | tls
    user: str
    password: str = field(repr=False)
    timeout: float
    rate_per_minute: int
    sender: Address

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """Validate the sending settings; ConfigError names the one to fix."""
        if not settings.smtp_sender_address.strip():
            raise ConfigError(
                "setting smtp_sender_address: required to send email (RADIUS_SMTP_SENDER_ADDRESS)"
            )
        if not settings.smtp_host.strip():
            raise ConfigError("setting smtp_host: required to send email (RADIUS_SMTP_HOST)")
        try:
            sender = mailbox(
                settings.smtp_sender_address, settings.smtp_sender_name or settings.space_name
            )
        except ValueError:
            raise ConfigError(
                f"setting smtp_sender_address: {settings.smtp_sender_address!r} "
                "is not an email address"
            ) from None
        return cls(
            host=settings.smtp_host.strip(),
            port=settings.smtp_port,
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
            rate_per_minute=settings.smtp_rate_per_minute,
            sender=sender,
        )

    @property
    def server(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        """One line for people: server, security, user; never the password."""
        security = {"none": "no TLS", "starttls": "STARTTLS", "tls": "implicit TLS"}
        who = f", as {self.user}" if self.user else ""
        return f"{self.server} ({security.get(self.security, self.security)}{who})"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result for one recipient: sent (``error`` None) or failed with a reason."""

    recipient: str
    error: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the server accepted the message."""
        return self.error is None

    @property
    def status(self) -> str:
        """``sent`` or ``failed``."""
        return "sent" if self.ok else "failed"


class SmtpFailure(Exception):
    """Connecting, TLS or login failed; ``reason`` is safe to print."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


class SmtpSender:
    """Sends messages over one reused connection; use as a context manager."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        bucket: TokenBucket | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self._bucket = bucket or TokenBucket(config.rate_per_minute)
        self._tls_context = tls_context
        self._conn: smtplib.SMTP | None = None
        self._broken: SmtpFailure | None = None
        # Connections opened so far: tests check that a batch reuses one.
        self.connections = 0

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT if connected; errors on the way out do not matter."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context

    def _open(self) -> smtplib.SMTP:
        """Connect, secure and log in; raise SmtpFailure with a printable reason."""
        cfg = self.config
        where = cfg.server
        try:
            conn: smtplib.SMTP
            if cfg.security == "tls":
                conn = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._context()
                )
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            try:
                conn.ehlo()
                if cfg.security == "starttls":
                    if not conn.has_extn("starttls"):
                        raise SmtpFailure(
                            NO_STARTTLS,
                            f"{where} does not offer STARTTLS; check smtp_port and "
                            "smtp_security (tls for port 465)",
                        )
                    conn.starttls(context=self._context())
                    conn.ehlo()
                if cfg.user:
                    conn.login(cfg.user, cfg.password)
            except BaseException:
                conn.close()
                raise
        except SmtpFailure:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpFailure(
                AUTH_FAILED,
                f"{where} refused the login as {cfg.user}: {_reply(exc.smtp_code, exc.smtp_error)}"
                " (check smtp_user and smtp_password)",
            ) from None
        except smtplib.SMTPNotSupportedError:
            hint = " (it may only offer it over TLS: check smtp_security)"
            raise SmtpFailure(
                AUTH_UNSUPPORTED,
                f"{where} offers no login (AUTH){hint if cfg.security == 'none' else ''}",
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise SmtpFailure(
                CONNECTION_FAILED,
                f"{where} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}",
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise SmtpFailure(
                CONNECTION_FAILED, f"{where} closed the connection while we were setting it up"
            ) from None
        except ConnectionRefusedError:
            raise SmtpFailure(
                CONNECTION_REFUSED,
                f"connection to {where} refused: is the SMTP server running on that port?",
            ) from None
        except TimeoutError:
            raise SmtpFailure(
                TIMEOUT, f"no answer from {where} within {cfg.timeout:g} s (smtp_timeout)"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise SmtpFailure(
                TLS_FAILED, f"the TLS certificate of {where} is not trusted: {exc.verify_message}"
            ) from None
        except ssl.SSLError as exc:
            raise SmtpFailure(
                TLS_FAILED,
                f"TLS with {where} failed: {exc.reason or exc} (check smtp_security and smtp_port)",
            ) from None
        except socket.gaierror:
            raise SmtpFailure(CONNECTION_FAILED, f"cannot resolve host {cfg.host}") from None
        except (smtplib.SMTPException, OSError) as exc:
            detail = getattr(exc, "strerror", None) or type(exc).__name__
            raise SmtpFailure(CONNECTION_FAILED, f"cannot connect to {where}: {detail}") from None
        self.connections += 1
        return conn

    def send(self, message: EmailMessage) -> Delivery:
        """Send one message to its single To address; never raises for SMTP trouble."""
        recipient = message["To"].addresses[0].addr_spec
        delivery = self._deliver(message, recipient)
        if delivery.ok:
            _log().info("mail.sent", recipient=recipient, server=self.config.server)
        else:
            _log().warning(
                "mail.failed", recipient=recipient, server=self.config.server, error=delivery.error
            )
        return delivery

    def _deliver(self, message: EmailMessage, recipient: str) -> Delivery:
        if self._broken is not None:
            return Delivery(recipient, self._broken.error, self._broken.reason)
        self._bucket.acquire()
        # Two attempts: a reused connection the server has dropped (idle timeout,
        # 421) is re-opened once; anything else is reported at once.
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    self._conn = self._open()
                refused = self._conn.send_message(
                    message, from_addr=self.config.sender.addr_spec, to_addrs=[recipient]
                )
            except SmtpFailure as exc:
                self._broken = exc
                return Delivery(recipient, exc.error, exc.reason)
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = exc.recipients.get(recipient, (0, b""))
                if code == _CLOSING and attempt == 1:
                    self._drop()
                    continue
                return Delivery(
                    recipient,
                    REFUSED_RECIPIENT,
                    f"the server refused the recipient: {_reply(code, reply)}",
                )
            except smtplib.SMTPSenderRefused as exc:
                if exc.smtp_code == _CLOSING and attempt == 1:
                    self._drop()
                    continue
                return Delivery(
                    recipient,
                    REFUSED_SENDER,
                    f"the server refused the sender {self.config.sender.addr_spec}: "
                    f"{_reply(exc.smtp_code, exc.smtp_error)}",
                )
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == _CLOSING and attempt == 1:
                    self._drop()
                    continue
                return Delivery(
                    recipient,
                    REFUSED_MESSAGE,
                    f"the server refused the message: {_reply(exc.smtp_code, exc.smtp_error)}",
                )
            except (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
                if attempt == 1:
                    _log().info("mail.reconnect", server=self.config.server)
                    continue
                return Delivery(
                    recipient, DISCONNECTED, f"{self.config.server} closed the connection"
                )
            except TimeoutError:
                # The state of the session is unknown: start the next message afresh.
                self._drop()
                return Delivery(
                    recipient,
                    TIMEOUT,
                    f"no answer from {self.config.server} within {self.config.timeout:g} s",
                )
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                detail = getattr(exc, "strerror", None) or type(exc).__name__
                return Delivery(recipient, SMTP_ERROR, f"sending failed: {detail}")
            if refused:
                # Only one recipient per message, so this is belt and braces.
                code, reply = refused[recipient]
                return Delivery(
                    recipient,
                    REFUSED_RECIPIENT,
                    f"the server refused the recipient: {_reply(code, reply)}",
                )
            return Delivery(recipient)
        raise AssertionError("unreachable")  # pragma: no cover
