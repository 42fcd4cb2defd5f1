"""A small accounting client for end-to-end tests: many sessions, every answer verified.

Sends Accounting-Requests the way a NAS does: several outstanding at once (one
Identifier each), the same bytes again when no answer came in time
(RFC 5080 2.2.1), and an Accounting-Response counts only when its Response
Authenticator verifies with the shared secret. What it returns says which
requests were acknowledged: the server promised to keep exactly those.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_accounting_request, verify_reply
from tests.integration.udp_client import SECRET

# Counters each session reports: an Interim and a Stop with distinct, known values.
INTERIM_TIME, STOP_TIME = 60, 120


def _integer(value: int) -> bytes:
    return struct.pack("!I", value)


@dataclass(frozen=True, slots=True)
class Event:
    """One accounting packet of one session (``status``: 1 Start, 3 Interim, 2 Stop)."""

    session: int
    status: int

    @property
    def session_id(self) -> str:
        return f"load-{self.session:05d}"

    def counters(self) -> tuple[int, int, int] | None:
        """(session time, input octets, output octets) it reports, if any."""
        n = self.session
        if self.status == 3:
            return INTERIM_TIME, 1_000 + n, 2_000 + n
        if self.status == 2:
            return STOP_TIME, 5_000_000_000 + n, 9_000 + n  # input past 2^32: Gigawords
        return None

    def attributes(self, user: str) -> list[tuple[int, bytes]]:
        n = self.session
        attributes = [
            (c.ACCT_STATUS_TYPE, _integer(self.status)),
            (c.ACCT_SESSION_ID, self.session_id.encode()),
            (c.USER_NAME, user.encode()),
            (c.NAS_IP_ADDRESS, bytes((192, 0, 2, 1))),
            (c.NAS_PORT, _integer(n)),
            (c.CALLING_STATION_ID, f"02-00-00-00-{n >> 8:02X}-{n & 255:02X}".encode()),
        ]
        counters = self.counters()
        if counters is not None:
            seconds, octets_in, octets_out = counters
            attributes += [
                (c.ACCT_SESSION_TIME, _integer(seconds)),
                (c.ACCT_INPUT_OCTETS, _integer(octets_in & 0xFFFFFFFF)),
                (c.ACCT_INPUT_GIGAWORDS, _integer(octets_in >> 32)),
                (c.ACCT_OUTPUT_OCTETS, _integer(octets_out)),
            ]
        if self.status == 2:
            attributes.append((c.ACCT_TERMINATE_CAUSE, _integer(1)))
        return attributes


def sessions(first: int, count: int, statuses: tuple[int, ...] = (1, 3, 2)) -> list[Event]:
    """``count`` sessions from number ``first``, each event in ``statuses`` in turn."""
    return [Event(n, status) for status in statuses for n in range(first, first + count)]


@dataclass
class Outcome:
    """What the client saw: events acknowledged (filled as answers arrive), packets sent."""

    acked: set[Event] = field(default_factory=set)
    unanswered: set[Event] = field(default_factory=set)
    sent: int = 0
    # Answers that did not verify against any outstanding request (a late answer to
    # a retransmission whose Identifier was reused is one; a forgery would be one).
    unmatched: int = 0


def send_all(
    port: int,
    events: list[Event],
    *,
    user: str = "ana@example.com",
    window: int = 64,
    timeout: float = 1.0,
    tries: int = 6,
    deadline: float = 120.0,
    outcome: Outcome | None = None,
) -> Outcome:
    """Send every event (``window`` outstanding at most), retransmitting; return what was acked.

    An event whose every try went unanswered is ``unanswered``. Pass ``outcome`` to
    watch progress from another thread.
    """
    outcome = outcome or Outcome()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    todo = list(reversed(events))
    # Identifiers reused as late as possible: a late answer then matches nothing.
    free = deque(range(256))
    # identifier -> (event, packet, authenticator, tries so far, next retransmission time)
    flying: dict[int, tuple[Event, bytes, bytes, int, float]] = {}
    stop_at = time.monotonic() + deadline
    try:
        while (todo or flying) and time.monotonic() < stop_at:
            now = time.monotonic()
            while todo and len(flying) < window:
                identifier = free.popleft()
                event = todo.pop()
                request = encode_accounting_request(
                    SECRET.encode(), identifier=identifier, attributes=event.attributes(user)
                )
                sock.sendto(request.packet, ("127.0.0.1", port))
                outcome.sent += 1
                flying[identifier] = (
                    event,
                    request.packet,
                    request.authenticator,
                    1,
                    now + timeout,
                )
            for identifier, (event, packet, auth, count, due) in list(flying.items()):
                if due > now:
                    continue
                if count >= tries:
                    del flying[identifier]
                    free.append(identifier)
                    outcome.unanswered.add(event)
                    continue
                # The same bytes again: the server must know it for a retransmission.
                sock.sendto(packet, ("127.0.0.1", port))
                outcome.sent += 1
                flying[identifier] = (event, packet, auth, count + 1, now + timeout)
            for _ in selector.select(timeout=0.02):
                while True:
                    try:
                        reply = sock.recv(4096)
                    except BlockingIOError:
                        break
                    entry = flying.get(reply[1]) if len(reply) > 1 else None
                    if entry is None:
                        continue  # the answer to a retransmission already answered
                    event, _, auth, _, _ = entry
                    if reply[0] != c.Code.ACCOUNTING_RESPONSE or not verify_reply(
                        reply, auth, SECRET.encode(), request_code=c.Code.ACCOUNTING_REQUEST
                    ):
                        outcome.unmatched += 1
                        continue
                    del flying[reply[1]]
                    free.append(reply[1])
                    outcome.acked.add(event)
    finally:
        selector.close()
        sock.close()
    outcome.unanswered |= {entry[0] for entry in flying.values()} | set(todo)
    return outcome


class Sender(threading.Thread):
    """``send_all`` in a thread, so the test can stop or kill the server meanwhile."""

    def __init__(self, port: int, events: list[Event], **options: object) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.events = events
        self.options = options
        self.outcome = Outcome()

    def run(self) -> None:
        send_all(self.port, self.events, outcome=self.outcome, **self.options)  # type: ignore[arg-type]

    def wait_acked(self, count: int, timeout: float = 30.0) -> None:
        """Block until ``count`` events were acknowledged."""
        deadline = time.monotonic() + timeout
        while len(self.outcome.acked) < count:
            if time.monotonic() > deadline or not self.is_alive():
                raise AssertionError(f"only {len(self.outcome.acked)} of {count} acknowledged")
            time.sleep(0.01)
