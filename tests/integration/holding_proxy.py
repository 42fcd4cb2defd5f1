"""A UDP relay between a NAS (eapol_test) and the server that can pause after an Access-Accept.

``eapol_test -r N`` re-authenticates at once after each success, in one process (the only
way it keeps its TLS session). To change something between the first sign-in and the
reconnect, the relay holds the NAS's requests after the first Access-Accept it passes back:
the test changes the member, waits for the server to apply it, then releases the queue.
Packets are relayed unchanged; the server sees the relay's address (127.0.0.1).

``roam``: each conversation (after each Access-Accept or -Reject) goes out from a new
socket, so the server sees a new NAS port: a device roaming between access points.
``hold=False``: relay only, never hold.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_ACCESS_ACCEPT = 2
_ACCESS_REJECT = 3


class HoldingProxy:
    """Relays datagrams; after the first Access-Accept, holds requests until ``release``."""

    def __init__(self, server: tuple[str, int], *, hold: bool = True, roam: bool = False) -> None:
        self.server = server
        self.hold = hold
        self.roam = roam
        # The source ports the server saw, one per socket used.
        self.source_ports: list[int] = []
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.source_ports.append(self.back.getsockname()[1])
        self.port = self.front.getsockname()[1]
        # Set once the first Access-Accept went back: requests queue from then on.
        self.paused = threading.Event()
        self._released = threading.Event()
        self._held: list[bytes] = []
        self._nas: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start relaying in a thread."""
        self._thread.start()

    def release(self) -> None:
        """Forward what was held and relay freely from now on."""
        self._released.set()

    def close(self) -> None:
        """Stop the thread and close both sockets."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.front.close()
        self.back.close()

    def _new_back(self) -> socket.socket:
        """A socket on a port not used before (the old one stays open until the new is bound)."""
        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        back.bind(("127.0.0.1", 0))
        self.back.close()
        self.source_ports.append(back.getsockname()[1])
        return back

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.front, selectors.EVENT_READ)
        selector.register(self.back, selectors.EVENT_READ)
        while not self._stop.is_set():
            if self._released.is_set() and self._held:
                for packet in self._held:
                    self.back.sendto(packet, self.server)
                self._held.clear()
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is self.front:
                    packet, self._nas = self.front.recvfrom(65535)
                    if self.hold and self.paused.is_set() and not self._released.is_set():
                        self._held.append(packet)
                    else:
                        self.back.sendto(packet, self.server)
                else:
                    packet, _ = self.back.recvfrom(65535)
                    if self._nas is not None:
                        self.front.sendto(packet, self._nas)
                    if packet[:1] == bytes((_ACCESS_ACCEPT,)):
                        self.paused.set()
                    if self.roam and packet[0] in (_ACCESS_ACCEPT, _ACCESS_REJECT):
                        selector.unregister(self.back)
                        self.back = self._new_back()
                        selector.register(self.back, selectors.EVENT_READ)
        selector.close()


@contextmanager
def holding_proxy(
    server: tuple[str, int], *, hold: bool = True, roam: bool = False
) -> Iterator[HoldingProxy]:
    """A running relay to ``server``; closed on exit."""
    proxy = HoldingProxy(server, hold=hold, roam=roam)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
