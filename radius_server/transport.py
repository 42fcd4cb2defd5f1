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


class RadiusDatagramProtocol(asyncio.DatagramProtocol):
    """Feeds datagrams to a handler; one failing request never reaches the loop."""

    def __init__(self, handler: Handler, log: Any, port_name: str) -> None:
        self.handler = handler
        self.log = log
        self.port_name = port_name
        self.transport: asyncio.DatagramTransport | None = None
        # Delayed replies (reject_delay): handle -> the send, so a stop can flush them.
        self.pending: dict[asyncio.TimerHandle, Callable[[], None]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
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
        if result is None or self.transport is None:
            return
        reply, delay = result
        if delay > 0:
            self._send_later(reply, addr, delay)
        else:
            self.transport.sendto(reply, addr)

    def _send_later(self, reply: bytes, addr: tuple[str, int], delay: float) -> None:
        def send() -> None:
            self.pending.pop(handle, None)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(reply, addr)

        handle = asyncio.get_running_loop().call_later(delay, send)
        self.pending[handle] = send

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a NAS that went away: not our problem.
        self.log.debug("socket_error", port=self.port_name, error=type(exc).__name__)

    def flush_pending(self) -> None:
        """Send every delayed reply now (graceful stop)."""
        for handle, send in list(self.pending.items()):
            handle.cancel()
            send()
        self.pending.clear()


def make_socket(host: str, port: int) -> socket.socket:
    """A bound, non-blocking UDP socket; ``::`` also serves IPv4 (dual stack)."""
    try:
        family = (
            socket.AF_INET6
            if ipaddress.ip_address(host.split("%")[0]).version == 6
            else socket.AF_INET
        )
    except ValueError:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Room for bursts: many access points retrying after an outage.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def open_endpoint(
    host: str, port: int, handler: Handler, log: Any, port_name: str
) -> tuple[asyncio.DatagramTransport, RadiusDatagramProtocol]:
    """Bind ``host:port`` and serve it with ``handler``."""
    loop = asyncio.get_running_loop()
    sock = make_socket(host, port)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: RadiusDatagramProtocol(handler, log, port_name), sock=sock
    )
    return transport, protocol
