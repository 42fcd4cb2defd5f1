"""Send one Disconnect-Request or CoA-Request and wait for its verified answer (RFC 5176).

One UDP socket per request, on an ephemeral port and connected to the access
point: the kernel then hands us only the access point's datagrams, an ICMP
"port unreachable" comes back as an error instead of a silent wait, and any
number of requests can run side by side without sharing an identifier space.

The packet is built once and retransmitted unchanged after each timeout (same
Identifier and Request Authenticator, RFC 5176 2.3 and RFC 5080 2.2.1), so an
access point that answers a late copy answers the request we are waiting for.
Datagrams that are not its verified reply are ignored (logged at debug), never
taken as an answer. The shared secret is never logged or put in an outcome.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from radius_server.protocol import codes as c
from radius_server.protocol.dynauth import (
    DynAuthReply,
    Refusal,
    encode_request,
    inspect_response,
)
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute

DEFAULT_TIMEOUTS: tuple[float, ...] = (1.0, 2.0, 4.0)
# Log event prefixes: disconnect_sent, coa_sent, ...
_EVENT_PREFIX = {c.Code.DISCONNECT_REQUEST: "disconnect", c.Code.COA_REQUEST: "coa"}


class DynAuthStatus(StrEnum):
    """How one request ended."""

    ACKED = "acked"  # a verified Disconnect-ACK / CoA-ACK
    NAK = "nak"  # a verified Disconnect-NAK / CoA-NAK (see error_cause)
    TIMEOUT = "timeout"  # no verified answer after the last try
    ERROR = "error"  # the request could not be built, sent or answered (see detail)


@dataclass(frozen=True, slots=True)
class DynAuthOutcome:
    """The result of :func:`send_request`.

    ``attempts`` is how many times the packet went out. ``error_cause`` and
    ``error_name`` come from the reply's Error-Cause (RFC 5176 3.5; set on a NAK,
    rarely on an ACK). ``detail`` says what failed for ERROR: an exception class
    and errno name such as ``ConnectionRefusedError(ECONNREFUSED)``, or
    ``encode_error``; never a secret.
    """

    status: DynAuthStatus
    identifier: int
    attempts: int
    error_cause: int | None = None
    error_name: str | None = None
    detail: str | None = None
    reply: DynAuthReply | None = None

    @property
    def acked(self) -> bool:
        """True when the access point confirmed the request (ACK)."""
        return self.status is DynAuthStatus.ACKED


class _ReplyProtocol(asyncio.DatagramProtocol):
    """Completes ``done`` with the first verified reply, or with a socket error."""

    def __init__(
        self,
        check: Callable[[bytes], DynAuthReply | Refusal],
        ignored: Callable[[Refusal, tuple[Any, ...]], None],
    ) -> None:
        self.done: asyncio.Future[DynAuthReply] = asyncio.get_running_loop().create_future()
        self._check = check
        self._ignored = ignored

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.done.done():
            return  # a duplicate answer to a retransmission
        result = self._check(data)
        if isinstance(result, Refusal):
            self._ignored(result, addr)
        else:
            self.done.set_result(result)

    def error_received(self, exc: Exception) -> None:
        # On a connected UDP socket: ICMP port/host unreachable for what we sent.
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.done.done():
            self.done.set_exception(exc)


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code) if isinstance(code, int) else None
    return f"{type(exc).__name__}({name})" if name else type(exc).__name__


def _target_text(target: tuple[str, int]) -> str:
    host, port = target
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def send_request(
    target: tuple[str, int],
    secret: bytes,
    code: int,
    attributes: Sequence[Attribute],
    *,
    timeouts: Sequence[float] = DEFAULT_TIMEOUTS,
    log: Any,
    log_fields: Mapping[str, Any] | None = None,
    require_message_authenticator: bool = False,
) -> DynAuthOutcome:
    """Send a Disconnect-Request or CoA-Request to ``target`` and wait for its answer.

    Args:
        target: the access point's (address, port), IPv4 or IPv6; the port is its
            dynamic-authorization port (3799 by convention, RFC 5176 2.3).
        secret: the dynamic-authorization secret shared with that access point.
        code: ``Code.DISCONNECT_REQUEST`` or ``Code.COA_REQUEST``.
        attributes: the request's attributes, Event-Timestamp included
            (:func:`radius_server.protocol.dynauth.session_attributes`); the
            Message-Authenticator is added.
        timeouts: how long to wait after each transmission; one try per entry,
            the packet resent unchanged after each but the last. At least one.
        log: a structlog-style logger.
        log_fields: extra fields for every line (user, session id, reason...).
        require_message_authenticator: ignore replies without one (RFC 5176 does
            not require it in replies; hostapd always signs its replies).

    Returns:
        The outcome; never raises for the network or the peer (cancellation
        propagates). Logs ``<kind>_sent`` (info, per try), then one of
        ``<kind>_acked`` (info), ``<kind>_nak`` (warning), ``<kind>_timeout``
        (warning), ``<kind>_error`` (warning), ``<kind>`` being ``disconnect`` or
        ``coa``; ``<kind>_ignored`` (debug) for each datagram that is not the answer.

    Raises:
        ValueError: ``timeouts`` is empty (a caller's mistake, not a network event).
    """
    if not timeouts:
        raise ValueError("timeouts must name at least one wait")
    prefix = _EVENT_PREFIX.get(code, "dynauth")
    identifier = secrets.randbelow(256)
    fields: dict[str, Any] = {
        **(log_fields or {}),
        "target": _target_text(target),
        "identifier": identifier,
    }

    def emit(level: str, event: str, **extra: Any) -> None:
        # Merged, not passed twice: a caller's field may share a name with ours.
        getattr(log, level)(f"{prefix}_{event}", **{**fields, **extra})

    try:
        packet = encode_request(code, identifier, secret, attributes)
    except EncodeError:
        emit("warning", "error", detail="encode_error", attempts=0)
        return DynAuthOutcome(DynAuthStatus.ERROR, identifier, 0, detail="encode_error")
    request_authenticator = packet[4:20]

    def check(data: bytes) -> DynAuthReply | Refusal:
        return inspect_response(
            data,
            identifier,
            request_authenticator,
            secret,
            request_code=code,
            require_message_authenticator=require_message_authenticator,
        )

    def ignored(reason: Refusal, addr: tuple[Any, ...]) -> None:
        emit("debug", "ignored", detail=str(reason), source=str(addr[0]))

    loop = asyncio.get_running_loop()
    attempts = 0
    transport: asyncio.DatagramTransport | None = None
    protocol: _ReplyProtocol | None = None
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _ReplyProtocol(check, ignored), remote_addr=target
        )
        for timeout in timeouts:
            transport.sendto(packet)
            attempts += 1
            emit("info", "sent", attempt=attempts)
            finished, _ = await asyncio.wait({protocol.done}, timeout=timeout)
            if finished:
                break
        if not protocol.done.done():
            emit("warning", "timeout", attempts=attempts)
            return DynAuthOutcome(DynAuthStatus.TIMEOUT, identifier, attempts)
        reply = protocol.done.result()  # raises the socket error, if that is what ended it
    except OSError as exc:
        detail = _describe(exc)
        emit("warning", "error", detail=detail, attempts=attempts)
        return DynAuthOutcome(DynAuthStatus.ERROR, identifier, attempts, detail=detail)
    finally:
        if transport is not None:
            transport.close()
        if protocol is not None and protocol.done.done() and not protocol.done.cancelled():
            # Mark a socket error seen even when cancellation cut us short, so asyncio
            # does not report it as never retrieved.
            protocol.done.exception()

    if reply.acked:
        emit("info", "acked", attempts=attempts)
        status = DynAuthStatus.ACKED
    else:
        emit(
            "warning",
            "nak",
            attempts=attempts,
            error_cause=reply.error_cause,
            error_name=reply.error_name,
        )
        status = DynAuthStatus.NAK
    return DynAuthOutcome(
        status,
        identifier,
        attempts,
        error_cause=reply.error_cause,
        error_name=reply.error_name,
        reply=reply,
    )
