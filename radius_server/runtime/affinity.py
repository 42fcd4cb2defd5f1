"""``serve --workers N``: each device's EAP conversations on one worker (device affinity).

The kernel spreads datagrams over the workers' SO_REUSEPORT sockets by source address
and port. A device roaming to another access point (another NAS address or port) may
land on another worker, where its TLS session cannot resume: OpenSSL's session cache
and ticket keys, and the binding table of ``eap/resumption.py``, are per process, and
pyOpenSSL exposes no way to share them. So each EAP Access-Request is handled by the
worker that *owns the device*: a stable hash (CRC-32, the same in every process, unlike
``hash()``) of its Calling-Station-Id, MAC notation normalized; of its User-Name when
there is none; handled where it arrived when there is neither.

A worker that reads a datagram owned by another forwards it, with the NAS address,
over a Unix datagram socket in the supervisor's private (0700) directory. The owner
handles it exactly as if its own socket had read it (unknown clients, the
Message-Authenticator, the reply cache, EAP State) and answers from its own UDP
socket: every worker's is bound to the same address and port, so the NAS sees the
same source. Only Access-Requests carrying an EAP-Message move: PAP, CHAP,
MS-CHAPv2 and accounting stay where the kernel put them, and cost one byte
search (see docs/architecture.md, *Fast reconnect*).

An owner that cannot be reached (not started yet, gone) does not lose requests: they
are handled locally (a full handshake at worst) and the problem is logged at most once
a minute per peer. Separate machines or instances do not share sessions: a reconnect
reaching another one is a full handshake.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import os
import socket
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radius_server.rules.throttle import normalize_station
from radius_server.runtime.transport import Handler

_ACCESS_REQUEST = 1
_USER_NAME = 1
_CALLING_STATION_ID = 31
_EAP_MESSAGE = 79
_EAP_MESSAGE_BYTE = b"\x4f"
# User-Password, CHAP-Password (RFC 2865 5.2, 5.3).
_NOT_WITH_EAP = (2, 3)
_HEADER = 20
# Datagrams waiting for a busy peer (its socket's queue is full) before new ones are
# dropped: the NAS retransmits them, as it would after a full UDP receive buffer.
QUEUE_MAX = 512
# Datagrams read from peers per wake-up (as transport.py: fairness with the NAS socket).
_BURST = 64
# A peer found unreachable is tried again after this long; it is logged at most this often.
RETRY_SECONDS = 1.0
LOG_INTERVAL = 60.0
# The forwarded message: NAS port, address length, address (text), then the datagram.
_PREFIX = struct.Struct("!HB")


def station_key(value: bytes) -> bytes:
    """A Calling-Station-Id as the affinity key: MACs in any notation alike (aa:bb:..)."""
    text = value.decode("utf-8", "replace")
    return ("mac:" + (normalize_station(text) or "")).encode()


def affinity_key(data: bytes) -> bytes | None:
    """The device an EAP Access-Request belongs to; None: handle it where it arrived.

    None for anything else (another code, no EAP-Message, no Calling-Station-Id nor
    User-Name) and for a malformed packet, which the normal path then logs. Reads the
    raw bytes: the code, then one walk over the attributes.
    """
    # Most PAP requests have no 0x4f byte after the header at all: one C-speed search.
    if (
        len(data) < _HEADER
        or data[0] != _ACCESS_REQUEST
        or data.find(_EAP_MESSAGE_BYTE, _HEADER) < 0
    ):
        return None
    end = (data[2] << 8) | data[3]
    if end < _HEADER or end > len(data):
        return None
    position = _HEADER
    eap = False
    station: bytes | None = None
    user: bytes | None = None
    while position < end:
        if position + 2 > end:
            return None
        kind, length = data[position], data[position + 1]
        if length < 2 or position + length > end:
            return None
        if kind == _EAP_MESSAGE:
            eap = True
        elif kind in _NOT_WITH_EAP:
            # RFC 3579 3.3: never with EAP-Message, and first in most PAP packets: the
            # walk stops here. (A packet with both is the normal path's to judge.)
            return None
        elif kind == _CALLING_STATION_ID and station is None:
            station = data[position + 2 : position + length]
        elif kind == _USER_NAME and user is None:
            user = data[position + 2 : position + length]
        position += length
    if not eap:
        return None
    if station and station.strip():
        return station_key(station)
    if user:
        return b"user:" + user.strip().lower()
    return None


def owner(key: bytes, workers: int) -> int:
    """The worker (0 .. workers-1) owning ``key``: the same in every process and run."""
    return zlib.crc32(key) % workers


def encode(data: bytes, source: tuple[str, int]) -> bytes:
    """A datagram and the NAS address it came from, as sent to the owning worker."""
    address = source[0].encode()
    return _PREFIX.pack(source[1], len(address)) + address + data


def decode(message: bytes) -> tuple[bytes, tuple[str, int]] | None:
    """The datagram and NAS address of a forwarded message; None when it is not one."""
    if len(message) < _PREFIX.size:
        return None
    port, size = _PREFIX.unpack_from(message)
    start = _PREFIX.size + size
    if size == 0 or len(message) < start:
        return None
    try:
        address = message[_PREFIX.size : start].decode("ascii")
    except UnicodeDecodeError:
        return None
    return message[start:], (address, port)


@dataclass(frozen=True, slots=True)
class WorkerPeers:
    """This worker's place among ``count`` (from the supervisor's command line)."""

    index: int
    count: int
    directory: Path

    def path(self, index: int) -> str:
        """The Unix socket worker ``index`` reads forwarded datagrams from."""
        return str(self.directory / f"peer-{index}.sock")


class _Peer:
    """The connected socket to one other worker, and what waits for it."""

    __slots__ = ("index", "logged_at", "path", "queue", "retry_at", "sock")

    def __init__(self, index: int, path: str) -> None:
        self.index = index
        self.path = path
        self.sock: socket.socket | None = None
        self.queue: collections.deque[bytes] = collections.deque()
        self.retry_at = 0.0
        self.logged_at = -LOG_INTERVAL


class AffinityRouter:
    """Forwards EAP Access-Requests to the worker owning the device; serves what peers send.

    ``wrap`` gives the authentication socket's handler; ``start`` opens this worker's
    peer socket, whose datagrams go to ``deliver`` (the UDP endpoint's: handled and
    answered as if read from the NAS socket).
    """

    def __init__(self, peers: WorkerPeers, log: Any, clock: Callable[[], float] = time.monotonic):
        self.peers = peers
        self.log = log
        self.clock = clock
        self.others = {n: _Peer(n, peers.path(n)) for n in range(peers.count) if n != peers.index}
        # forwarded: sent to their owner; received: from peers and handled here;
        # local: owner unreachable, handled here; dropped: owner's queue full.
        self.stats = {"forwarded": 0, "received": 0, "local": 0, "dropped": 0}
        self._inbox: socket.socket | None = None
        self._deliver: Callable[[bytes, tuple[str, int]], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wrap(self, handler: Handler) -> Handler:
        """The auth socket's handler: EAP of devices owned elsewhere forwarded, else ``handler``."""
        index, count, forward = self.peers.index, self.peers.count, self._forward

        def route(data: bytes, source: tuple[str, int]) -> tuple[bytes, float] | None:
            # affinity_key's first test, here: most PAP requests stop at one C call.
            if data.find(_EAP_MESSAGE_BYTE, _HEADER) < 0:
                return handler(data, source)
            key = affinity_key(data)
            if key is not None:
                target = owner(key, count)
                if target != index and forward(target, data, source):
                    return None
            return handler(data, source)

        return route

    def start(self, deliver: Callable[[bytes, tuple[str, int]], None]) -> None:
        """Read forwarded datagrams from this worker's peer socket (bound now)."""
        self._loop = asyncio.get_running_loop()
        self._deliver = deliver
        path = self.peers.path(self.peers.index)
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind(path)
        # The directory (0700) already keeps others out; the socket too, whatever the umask.
        os.chmod(path, 0o600)
        sock.setblocking(False)
        self._inbox = sock
        self._loop.add_reader(sock.fileno(), self._read_ready)
        self.log.info("affinity_started", worker=self.peers.index, workers=self.peers.count)

    def close(self) -> None:
        """Stop reading from peers and close every socket (the counters stay readable)."""
        loop = self._loop
        if self._inbox is not None and loop is not None:
            loop.remove_reader(self._inbox.fileno())
            self._inbox.close()
            self._inbox = None
            with contextlib.suppress(OSError):
                Path(self.peers.path(self.peers.index)).unlink()
        for peer in self.others.values():
            self._disconnect(peer)
        self.log.info("affinity_stopped", worker=self.peers.index, **self.stats)

    # -- sending ----------------------------------------------------------------------

    def _forward(self, target: int, data: bytes, source: tuple[str, int]) -> bool:
        """Send to the owner; False when it cannot be reached (the caller handles it)."""
        peer = self.others[target]
        if peer.sock is None and not self._connect(peer):
            self.stats["local"] += 1
            return False
        message = encode(data, source)
        if peer.queue:  # keep the order: behind what already waits
            self._enqueue(peer, message)
            return True
        try:
            peer.sock.send(message)  # type: ignore[union-attr]
        except BlockingIOError:
            self._enqueue(peer, message)
            return True
        except OSError as exc:
            self._lost(peer, exc)
            self.stats["local"] += 1
            return False
        self.stats["forwarded"] += 1
        return True

    def _connect(self, peer: _Peer) -> bool:
        now = self.clock()
        if now < peer.retry_at:
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            # Connected: a full peer queue then shows as "not writable" (poll), so the
            # queue below drains when the peer reads instead of being retried blindly.
            sock.connect(peer.path)
        except OSError as exc:
            sock.close()
            self._lost(peer, exc)
            return False
        peer.sock = sock
        return True

    def _enqueue(self, peer: _Peer, message: bytes) -> None:
        if len(peer.queue) >= QUEUE_MAX:
            self.stats["dropped"] += 1
            return
        if not peer.queue and self._loop is not None and peer.sock is not None:
            self._loop.add_writer(peer.sock.fileno(), self._drain, peer)
        peer.queue.append(message)

    def _drain(self, peer: _Peer) -> None:
        sock = peer.sock
        while peer.queue and sock is not None:
            try:
                sock.send(peer.queue[0])
            except BlockingIOError:
                return
            except OSError as exc:
                # Gone while these waited: dropped, the NAS retransmits and the
                # retransmission is handled here.
                self.stats["dropped"] += len(peer.queue)
                self._lost(peer, exc)
                return
            peer.queue.popleft()
            self.stats["forwarded"] += 1
        if sock is not None and self._loop is not None:
            self._loop.remove_writer(sock.fileno())

    def _lost(self, peer: _Peer, exc: OSError) -> None:
        """The peer cannot be reached: handle its devices here for a while, say so once."""
        self._disconnect(peer)
        now = self.clock()
        peer.retry_at = now + RETRY_SECONDS
        if now - peer.logged_at >= LOG_INTERVAL:
            peer.logged_at = now
            self.log.warning(
                "affinity_peer_unreachable",
                worker=self.peers.index,
                peer=peer.index,
                error=errno.errorcode.get(exc.errno or 0, type(exc).__name__),
                handled="locally",
            )

    def _disconnect(self, peer: _Peer) -> None:
        if peer.sock is not None:
            if peer.queue and self._loop is not None:
                self._loop.remove_writer(peer.sock.fileno())
            peer.sock.close()
            peer.sock = None
        peer.queue.clear()

    # -- receiving --------------------------------------------------------------------

    def _read_ready(self) -> None:
        inbox, deliver = self._inbox, self._deliver
        if inbox is None or deliver is None:
            return
        for _ in range(_BURST):
            try:
                message = inbox.recv(65535 + 300)
            except (BlockingIOError, InterruptedError):
                return
            found = decode(message)
            if found is None:
                self.log.debug("affinity_malformed", worker=self.peers.index)
                continue
            self.stats["received"] += 1
            data, source = found
            # The owner by the same hash: handled here, never forwarded again.
            deliver(data, source)
