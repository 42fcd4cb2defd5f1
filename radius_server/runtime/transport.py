"""asyncio UDP transport: sockets in, bytes to the engine, bytes back out.

Nothing here decides anything. Each socket is bound without SO_REUSEPORT so a
second server on the same port fails loudly instead of silently sharing it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

# handler(datagram, (host, port)) -> (reply bytes, delay seconds) or None
Handler = Callable[[bytes, tuple[str, int]], tuple[bytes, float] | None]


# Datagrams read per wake-up before yielding to other tasks (fairness bound).
_BURST = 64


class UdpEndpoint:
    """One bound socket served by a reader callback on the event loop.

    asyncio's datagram transport reads one datagram per loop turn; under load
    draining the socket in one callback (bounded by _BURST) saves a loop turn
    per request. Replies go straight to ``sendto``: a full send buffer drops
    the reply, and the NAS retransmits, as it would for a lost datagram.
    """

    def __init__(self, sock: socket.socket, handler: Handler, log: Any, port_name: str) -> None:
        self.sock = sock
        self.handler = handler
        self.log = log
        self.port_name = port_name
        self.loop = asyncio.get_running_loop()
        # Delayed replies (reject_delay): handle -> the send, so a stop can flush them.
        self.pending: dict[asyncio.TimerHandle, Callable[[], None]] = {}
        self.loop.add_reader(sock.fileno(), self._read_ready)

    def sockname(self) -> tuple[Any, ...]:
        """The bound address (the real port when bound to port 0)."""
        return self.sock.getsockname()

    def _read_ready(self) -> None:
        recvfrom = self.sock.recvfrom
        for _ in range(_BURST):
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors surface here on Linux (port unreachable): not our problem.
                self.log.debug("socket_error", port=self.port_name, error=type(exc).__name__)
                return
            self._dispatch(data, addr)

    def deliver(self, data: bytes, addr: tuple[str, int]) -> None:
        """A datagram another worker read (runtime/affinity.py): handled and answered as if
        read here, the reply from this socket."""
        self._dispatch(data, addr)

    def _dispatch(self, data: bytes, addr: Any) -> None:
        try:
            result = self.handler(data, (addr[0], addr[1]))
        except Exception as exc:  # the engine should never raise; if it does, drop and go on
            self.log.error(
                "internal_error",
                port=self.port_name,
                error=type(exc).__name__,
                client_address=addr[0],
            )
            return
        if result is None:
            return
        reply, delay = result
        if delay > 0:
            self._send_later(reply, addr, delay)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: Any) -> None:
        try:
            self.sock.sendto(reply, addr)
        except OSError as exc:
            self.log.warning(
                "send_failed", port=self.port_name, error=type(exc).__name__, client_address=addr[0]
            )

    def _send_later(self, reply: bytes, addr: Any, delay: float) -> None:
        def send() -> None:
            self.pending.pop(handle, None)
            if self.sock.fileno() != -1:
                self._send(reply, addr)

        handle = self.loop.call_later(delay, send)
        self.pending[handle] = send

    def send(self, reply: bytes, address: tuple[str, int]) -> None:
        """Send ``reply`` now, from this socket (a reply decided later: accounting)."""
        if self.sock.fileno() != -1:
            self._send(reply, address)

    def stop_reading(self) -> None:
        """Take no more datagrams; the socket stays open for replies still to come."""
        if self.sock.fileno() != -1:
            self.loop.remove_reader(self.sock.fileno())

    def flush_pending(self) -> None:
        """Send every delayed reply now (graceful stop)."""
        for handle, send in list(self.pending.items()):
            handle.cancel()
            send()
        self.pending.clear()

    def close(self) -> None:
        """Stop reading and close the socket."""
        if self.sock.fileno() != -1:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class ListenError(OSError):
    """Binding failed; ``str()`` names the address and port, for a one-line error."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.host = host
        self.port = port

    def __str__(self) -> str:
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"cannot listen on {where} (UDP): {self.strerror}"


def make_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, non-blocking UDP socket; ``::`` also serves IPv4 (dual stack).

    ``reuse_port`` only for the workers of one ``serve --workers N``: the kernel
    then spreads datagrams over them by source address and port, so one NAS
    socket keeps talking to one worker (its reply cache, its EAP sessions).
    """
    try:
        family = (
            socket.AF_INET6
            if ipaddress.ip_address(host.split("%")[0]).version == 6
            else socket.AF_INET
        )
    except ValueError:
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        except OSError as exc:  # an unknown host name
            raise ListenError(host, port, exc) from exc
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Room for bursts: many access points retrying after an outage.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ListenError(host, port, exc) from exc
    return sock


async def open_endpoint(
    host: str, port: int, handler: Handler, log: Any, port_name: str, *, reuse_port: bool = False
) -> UdpEndpoint:
    """Bind ``host:port`` and serve it with ``handler``."""
    return UdpEndpoint(make_socket(host, port, reuse_port=reuse_port), handler, log, port_name)
