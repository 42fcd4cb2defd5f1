"""An accounting load generator: whole sessions, retransmissions, every reply checked.

Standard library only, like ``loadgen.py`` (``python3 bench/acctgen.py --help``).
It plays what access points send about their users' sessions (RFC 2866):
``--sessions`` sessions are open at any time, each one an Accounting-Request
Start, a few Interim-Updates with growing counters, then a Stop with an
Acct-Terminate-Cause; when a session stops, a new one (a new Acct-Session-Id,
the next member of its slot) starts in its place. Every packet carries what a
Wi-Fi NAS sends: User-Name, NAS-IP-Address, NAS-Identifier, NAS-Port,
NAS-Port-Type, Acct-Session-Id, Calling- and Called-Station-Id,
Framed-IP-Address, Class (from the Access-Accept, RFC 2865 5.25),
Event-Timestamp, Acct-Authentic; interims and stops add Acct-Session-Time,
octets and packets, and a tenth of the sessions pass 4 GiB, so their
counters need Acct-Input/Output-Gigawords (RFC 2869 5.1, 5.2).

A session's next packet goes out only once the previous one is answered, as
a NAS does; the load is closed-loop: ``--window`` requests always in flight,
taken from the sessions that are ready. Unanswered requests are retransmitted
unchanged (same Identifier and Request Authenticator, so the server can
recognise them, RFC 5080 2.2.2) after ``--timeout`` seconds, up to
``--retries`` times; then the NAS gives up on that packet and moves on.

Every reply is checked: an Accounting-Response with the Identifier of a
request in flight on that socket and a valid Response Authenticator (RFC 2866
3), and its Message-Authenticator when present. The generator remembers, per
session, the last values the server confirmed, so the caller can compare
them with what the server stored (``expectations``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import hashlib
import hmac
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection

from loadgen import Latencies, UdpClient, exchange, verify_reply

ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
STATUS_SERVER = 12
START, STOP, INTERIM = 1, 2, 3

_USER_NAME = 1
_NAS_IP_ADDRESS = 4
_NAS_PORT = 5
_FRAMED_IP_ADDRESS = 8
_CLASS = 25
_CALLED_STATION_ID = 30
_CALLING_STATION_ID = 31
_NAS_IDENTIFIER = 32
_ACCT_STATUS_TYPE = 40
_ACCT_INPUT_OCTETS = 42
_ACCT_OUTPUT_OCTETS = 43
_ACCT_SESSION_ID = 44
_ACCT_AUTHENTIC = 45
_ACCT_SESSION_TIME = 46
_ACCT_INPUT_PACKETS = 47
_ACCT_OUTPUT_PACKETS = 48
_ACCT_TERMINATE_CAUSE = 49
_ACCT_INPUT_GIGAWORDS = 52
_ACCT_OUTPUT_GIGAWORDS = 53
_EVENT_TIMESTAMP = 55
_NAS_PORT_TYPE = 61
_MESSAGE_AUTHENTICATOR = 80
_WIRELESS_802_11 = 19
_RADIUS_AUTHENTIC = 1
_ZERO = bytes(16)
_MA_ZERO = bytes((_MESSAGE_AUTHENTICATOR, 18)) + _ZERO
_GIGAWORD = 1 << 32
# RFC 2866 5.10: User-Request, Lost-Carrier, Idle-Timeout, Session-Timeout, Admin-Reset.
_TERMINATE_CAUSES = (1, 1, 1, 2, 4, 4, 5, 6)
# Virtual seconds between interims (Acct-Interim-Interval), with some jitter.
_INTERVAL = 600


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324 - RADIUS (RFC 2866) mandates MD5


def _attr(attr_type: int, value: bytes) -> bytes:
    return bytes((attr_type, len(value) + 2)) + value


def _int(attr_type: int, value: int) -> bytes:
    return bytes((attr_type, 6)) + value.to_bytes(4, "big")


def encode_accounting(
    identifier: int, attributes: bytes, secret: bytes, message_authenticator: bool = False
) -> bytes:
    """An Accounting-Request around already encoded ``attributes`` (RFC 2866 3).

    Request Authenticator = MD5(Code+ID+Length+16 zero octets+attributes+secret).
    A Message-Authenticator, when wanted, goes first and is computed before,
    over the packet with zeros in the Authenticator field (RFC 2869 5.14).
    """
    if message_authenticator:
        length = 38 + len(attributes)
        header = bytes((ACCOUNTING_REQUEST, identifier, length >> 8, length & 0xFF))
        mac = hmac.digest(secret, header + _ZERO + _MA_ZERO + attributes, "md5")
        attributes = _MA_ZERO[:2] + mac + attributes
    else:
        length = 20 + len(attributes)
        header = bytes((ACCOUNTING_REQUEST, identifier, length >> 8, length & 0xFF))
    return header + _md5(header + _ZERO + attributes + secret) + attributes


def encode_status_server(identifier: int, authenticator: bytes, secret: bytes) -> bytes:
    """A Status-Server with its mandatory Message-Authenticator (RFC 5997 3)."""
    header = bytes((STATUS_SERVER, identifier, 0, 38))
    mac = hmac.digest(secret, header + authenticator + _MA_ZERO, "md5")
    return header + authenticator + _MA_ZERO[:2] + mac


def status_server_answered(target: tuple[str, int], secret: bytes, wait: float = 0.5) -> bool:
    """True when ``target`` answers a Status-Server with a verified reply (a readiness probe)."""
    authenticator = os.urandom(16)
    packet = encode_status_server(1, authenticator, secret)
    with UdpClient(target, 1) as client:
        return exchange(client.socks[0], packet, authenticator, secret, False, wait) is not None


# -- sessions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the server confirmed last about one session: the row it should hold."""

    session_id: str
    status: int  # Acct-Status-Type of the last answered packet (0: none answered)
    input_octets: int  # Gigawords folded in
    output_octets: int
    session_time: int
    # A packet of this session was given up on: the row may hold more than we know.
    unconfirmed: bool


@dataclass(slots=True)
class Session:
    """One session, as its NAS plays it."""

    session_id: str
    slot: int
    static: bytes  # the attributes every packet of the session repeats, encoded
    started: int  # Event-Timestamp of the Start
    interims: int  # Interim-Updates to send before the Stop
    gigawords: bool
    cause: int
    step: int = 0  # packets done: 0 = Start next, interims + 1 = Stop next
    session_time: int = 0
    input_octets: int = 0
    output_octets: int = 0
    input_packets: int = 0
    output_packets: int = 0
    acked: tuple[int, int, int, int] = (0, 0, 0, 0)  # status, in, out, session time
    gave_up: bool = False

    @property
    def next_status(self) -> int:
        if self.step == 0:
            return START
        return STOP if self.step > self.interims else INTERIM


@dataclass(slots=True)
class AcctResult(Latencies):
    """What one timed run measured. Latencies are milliseconds, from the first send."""

    window: int
    duration_s: float = 0.0
    sent: int = 0  # requests, first transmissions only
    retransmissions: int = 0
    answered: int = 0  # verified Accounting-Responses (each request once)
    answered_retransmitted: int = 0  # answered after at least one retransmission
    timeouts: int = 0  # requests given up after every retransmission
    bad_authenticators: int = 0  # replies that did not verify (or were not Accounting-Response)
    late_replies: int = 0  # replies for nothing in flight (a duplicate, or after giving up)
    starts: int = 0  # answered, by type
    interims: int = 0
    stops: int = 0
    sessions_started: int = 0  # Starts sent
    generator_cpu_s: float = 0.0

    @property
    def errors(self) -> int:
        """Requests that never got a verified answer, and replies that did not verify."""
        return self.timeouts + self.bad_authenticators

    @property
    def requests_per_second(self) -> float:
        """Verified answers per second over the run."""
        return self.answered / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def loadgen_cpu_us(self) -> float:
        """The generator's CPU per request sent."""
        return self.generator_cpu_s * 1e6 / self.sent if self.sent else 0.0

    def summary(self) -> dict[str, object]:
        """The numbers, without the raw latencies (JSON-ready)."""
        data = asdict(self)
        del data["latencies_ms"]
        data["errors"] = self.errors
        data["requests_per_second"] = round(self.requests_per_second, 1)
        data["loadgen_cpu_us"] = round(self.loadgen_cpu_us, 1)
        return data

    def describe(self) -> str:
        """A few human lines."""
        return (
            f"window {self.window}: {self.requests_per_second:,.0f} req/s over "
            f"{self.duration_s:.1f} s ({self.answered:,} answered: {self.starts:,} start, "
            f"{self.interims:,} interim, {self.stops:,} stop)\n"
            f"latency ms: p50 {self.p50_ms:.3f}  p90 {self.p90_ms:.3f}  p99 {self.p99_ms:.3f}  "
            f"max {self.max_ms:.3f}\n"
            f"sent {self.sent:,}, retransmissions {self.retransmissions:,}, timeouts "
            f"{self.timeouts:,}, bad authenticators {self.bad_authenticators:,}, late replies "
            f"{self.late_replies:,}; loadgen CPU {self.loadgen_cpu_us:.1f} us/request"
        )


def merge_results(parts: Sequence[AcctResult]) -> AcctResult:
    """One result from the same run in several processes."""
    merged = AcctResult(window=sum(p.window for p in parts))
    for name in (
        "sent",
        "retransmissions",
        "answered",
        "answered_retransmitted",
        "timeouts",
        "bad_authenticators",
        "late_replies",
        "starts",
        "interims",
        "stops",
        "sessions_started",
        "generator_cpu_s",
    ):
        setattr(merged, name, sum(getattr(p, name) for p in parts))
    merged.duration_s = max((p.duration_s for p in parts), default=0.0)
    merged.latencies_ms = [x for p in parts for x in p.latencies_ms]
    merged.fill_percentiles(merged.latencies_ms)
    return merged


SOCKETS = 8  # source ports per generator: 256 Identifiers each


@dataclass(frozen=True, slots=True)
class Mix:
    """The shape of the sessions: members, access points, interims, retransmission policy."""

    members: Sequence[str]  # User-Names; slot i plays members i, i + sessions, ...
    sessions: int = 1000  # open at any time (slots)
    interims: tuple[int, int] = (1, 4)  # Interim-Updates per session, inclusive range
    gigawords_ratio: float = 0.1  # sessions whose counters pass 4 GiB
    access_points: int = 50
    timeout: float = 1.0  # seconds before a retransmission
    retries: int = 2  # retransmissions before giving up on a packet
    message_authenticator: bool = False  # Accounting-Requests need none (RFC 2866)
    sockets: int = SOCKETS
    seed: int = 1
    prefix: str = ""  # Acct-Session-Id prefix: unique per generator process and run


def mix_from_args(args: argparse.Namespace, members: Sequence[str]) -> Mix:
    """The Mix the command-line options (here and in accounting.py) ask for."""
    return Mix(
        members=members,
        sessions=args.sessions,
        timeout=args.timeout,
        retries=args.retries,
        message_authenticator=args.message_authenticator,
    )


def _mac(seed: bytes) -> bytes:
    return "-".join(f"{b:02X}" for b in _md5(seed)[:6]).encode("ascii")


class SessionPlan:
    """The sessions of one generator and their packets: no sockets, no clock but Event-Timestamp.

    Slots (``mix.sessions``) each play one session at a time; ``ready`` holds
    the sessions whose next packet may go out. ``packet`` builds it (counters
    grow then, so a retransmission resends the same bytes), ``advance`` moves a
    session on once that packet is answered or given up.
    """

    def __init__(self, mix: Mix, secret: bytes) -> None:
        if not mix.members:
            raise ValueError("no members to play sessions for")
        if mix.sessions <= 0:
            raise ValueError("sessions must be positive")
        self.mix, self.secret = mix, secret
        self.rng = random.Random(mix.seed)
        self.prefix = mix.prefix or f"{os.getpid():x}{self.rng.getrandbits(16):04x}"
        self._counter = 0
        self._generation = [0] * mix.sessions  # sessions each slot has played
        self.ready: collections.deque[Session] = collections.deque()
        self.winding_down = False
        self.done: dict[str, Expectation] = {}
        self.open: dict[str, Session] = {}
        for slot in range(mix.sessions):
            self.ready.append(self.new_session(slot))

    def new_session(self, slot: int) -> Session:
        """A new session in ``slot``, for the slot's next member; its Start comes next."""
        mix, rng = self.mix, self.rng
        member = mix.members[(slot + self._generation[slot] * mix.sessions) % len(mix.members)]
        self._generation[slot] += 1
        self._counter += 1
        session_id = f"{self.prefix}-{self._counter:08X}"
        ap = rng.randrange(mix.access_points)
        user = member.encode("utf-8")
        interims = rng.randint(*mix.interims)
        static = b"".join(
            (
                _attr(_USER_NAME, user),
                _attr(_NAS_IP_ADDRESS, bytes((192, 0, 2, 1 + ap % 250))),
                _attr(_NAS_IDENTIFIER, f"bench-ap-{ap:03d}".encode()),
                _int(_NAS_PORT, slot),
                _int(_NAS_PORT_TYPE, _WIRELESS_802_11),
                _attr(_ACCT_SESSION_ID, session_id.encode("ascii")),
                _attr(_CALLING_STATION_ID, _mac(user + slot.to_bytes(4, "big"))),
                _attr(_CALLED_STATION_ID, _mac(bytes((ap,))) + b":Coworking"),
                _attr(
                    _FRAMED_IP_ADDRESS,
                    bytes((10, 64 + slot // 65536 % 64, slot // 256 % 256)) + bytes((slot % 256,)),
                ),
                _attr(_CLASS, b"bench:" + _md5(session_id.encode()).hex()[:16].encode()),
                _int(_ACCT_AUTHENTIC, _RADIUS_AUTHENTIC),
            )
        )
        # Back-dated so that every Event-Timestamp is in the past and consistent with
        # Acct-Session-Time: the session ends about now.
        length = (interims + 1) * _INTERVAL + rng.randrange(_INTERVAL)
        session = Session(
            session_id=session_id,
            slot=slot,
            static=static,
            started=int(time.time()) - length,
            interims=interims,
            gigawords=rng.random() < mix.gigawords_ratio,
            cause=rng.choice(_TERMINATE_CAUSES),
        )
        if session.gigawords:  # already past 4 GiB at the first interim
            session.input_octets = rng.randrange(5 * _GIGAWORD, 9 * _GIGAWORD)
            session.output_octets = rng.randrange(5 * _GIGAWORD, 9 * _GIGAWORD)
        self.open[session_id] = session
        return session

    def packet(self, session: Session, identifier: int) -> bytes:
        """The session's next Accounting-Request; counters grow for interims and stops."""
        status = session.next_status
        if status == START:
            event = session.started
            tail = _int(_ACCT_STATUS_TYPE, START) + _int(_EVENT_TIMESTAMP, event)
        else:
            rng = self.rng
            if status == STOP:
                session.session_time += rng.randrange(1, _INTERVAL)
            else:
                session.session_time += _INTERVAL
            session.input_octets += rng.randrange(1, 50_000_000)
            session.output_octets += rng.randrange(1, 500_000_000)
            session.input_packets += rng.randrange(1, 50_000)
            session.output_packets += rng.randrange(1, 400_000)
            parts = [
                _int(_ACCT_STATUS_TYPE, status),
                _int(_EVENT_TIMESTAMP, session.started + session.session_time),
                _int(_ACCT_SESSION_TIME, session.session_time),
                _int(_ACCT_INPUT_OCTETS, session.input_octets % _GIGAWORD),
                _int(_ACCT_OUTPUT_OCTETS, session.output_octets % _GIGAWORD),
                _int(_ACCT_INPUT_PACKETS, session.input_packets % _GIGAWORD),
                _int(_ACCT_OUTPUT_PACKETS, session.output_packets % _GIGAWORD),
            ]
            if session.gigawords:
                parts.append(_int(_ACCT_INPUT_GIGAWORDS, session.input_octets // _GIGAWORD))
                parts.append(_int(_ACCT_OUTPUT_GIGAWORDS, session.output_octets // _GIGAWORD))
            if status == STOP:
                parts.append(_int(_ACCT_TERMINATE_CAUSE, session.cause))
            tail = b"".join(parts)
        return encode_accounting(
            identifier, session.static + tail, self.secret, self.mix.message_authenticator
        )

    def advance(self, session: Session, status: int, answered: bool) -> None:
        """The packet of ``status`` is over (answered, or given up): move the session on."""
        if answered and status == START:
            session.acked = (START, 0, 0, 0)  # a Start carries no counters
        elif answered:
            session.acked = (
                status,
                session.input_octets,
                session.output_octets,
                session.session_time,
            )
        else:
            session.gave_up = True
        if status == STOP:
            self._finish(session)
            if not self.winding_down:
                self.ready.append(self.new_session(session.slot))
            return
        session.step = session.interims + 1 if self.winding_down else session.step + 1
        self.ready.append(session)

    def _finish(self, session: Session) -> None:
        del self.open[session.session_id]
        status, octets_in, octets_out, session_time = session.acked
        self.done[session.session_id] = Expectation(
            session.session_id, status, octets_in, octets_out, session_time, session.gave_up
        )

    def expectations(self) -> dict[str, Expectation]:
        """Every session played so far (open ones too), by Acct-Session-Id."""
        found = dict(self.done)
        for session in self.open.values():
            if session.step == 0 and session.acked[0] == 0 and not session.gave_up:
                continue  # never sent: the server cannot know it
            status, octets_in, octets_out, session_time = session.acked
            found[session.session_id] = Expectation(
                session.session_id, status, octets_in, octets_out, session_time, True
            )
        return found

    def wind_down(self) -> None:
        """Start no more sessions; each open session's next packet is its Stop."""
        self.winding_down = True
        kept: collections.deque[Session] = collections.deque()
        for session in self.ready:
            if session.step == 0:
                del self.open[session.session_id]  # never sent: nothing to close
            else:
                session.step = session.interims + 1
                kept.append(session)
        self.ready = kept
        # Sessions in flight now turn to their Stop when answered (see advance).


class AcctGenerator(UdpClient):
    """Sockets, a SessionPlan and the epoll loop; reusable for several timed runs."""

    def __init__(self, target: tuple[str, int], secret: bytes, mix: Mix) -> None:
        self.target, self.secret, self.mix = target, secret, mix
        self.plan = SessionPlan(mix, secret)
        super().__init__(target, mix.sockets)
        self._free = [collections.deque(range(256)) for _ in self.socks]
        # Per socket and Identifier, None or
        # [first sent at, Request Authenticator, packet, session, tries, Acct-Status-Type].
        self._inflight: list[list[list | None]] = [[None] * 256 for _ in self.socks]
        self._timers: collections.deque[tuple[float, int, int, list]] = collections.deque()
        self._resting: collections.deque[tuple[float, int, int]] = collections.deque()
        self._turn = 0
        self._flying = 0  # requests in flight (sent, neither answered nor given up)

    def expectations(self) -> dict[str, Expectation]:
        """Every session played so far, by Acct-Session-Id."""
        return self.plan.expectations()

    # -- the wire ----------------------------------------------------------------------

    def _send(self, result: AcctResult) -> bool:
        """Send the next ready session's packet; False when nothing is ready or no id is free."""
        plan = self.plan
        if not plan.ready:
            return False
        socks = len(self.socks)
        for k in range(socks):
            index = (self._turn + k) % socks
            if self._free[index]:
                break
        else:
            return False
        self._turn = index + 1
        identifier = self._free[index].popleft()
        session = plan.ready.popleft()
        status = session.next_status
        packet = plan.packet(session, identifier)
        now = time.perf_counter()  # the latency clock starts at the send itself
        entry = [now, packet[4:20], packet, session, 1, status]
        self._inflight[index][identifier] = entry
        self._transmit(index, packet)
        self._timers.append((now + self.mix.timeout, index, identifier, entry))
        self._flying += 1
        result.sent += 1
        if status == START:
            result.sessions_started += 1
        return True

    def _transmit(self, index: int, packet: bytes) -> None:
        # A full buffer or an ICMP error loses the datagram as a network would: the
        # retransmission timer covers it.
        with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
            self.socks[index].send(packet)

    def _receive(self, index: int, result: AcctResult, record: list[float]) -> None:
        """Drain socket ``index``, verifying each reply."""
        inflight = self._inflight[index]
        secret = self.secret
        for data, now, entry in self._replies(index, inflight, result):
            identifier = data[1]
            sent_at, authenticator, _packet, session, tries, status = entry
            if data[0] != ACCOUNTING_RESPONSE or not _verify(data, authenticator, secret):
                # Forged, corrupt, or a late duplicate for an earlier user of this id.
                result.bad_authenticators += 1
                continue
            inflight[identifier] = None
            self._flying -= 1
            if tries > 1:
                # A duplicate answer may still come: rest the id before reusing it.
                result.answered_retransmitted += 1
                self._resting.append((now + self.mix.timeout, index, identifier))
            else:
                self._free[index].append(identifier)
            result.answered += 1
            if status == START:
                result.starts += 1
            elif status == STOP:
                result.stops += 1
            else:
                result.interims += 1
            record.append((now - sent_at) * 1000.0)
            self.plan.advance(session, status, answered=True)

    def _expire(self, now: float, result: AcctResult) -> None:
        """Retransmit requests past their timer; give up after the last try."""
        timers, mix = self._timers, self.mix
        while timers and timers[0][0] <= now:
            _, index, identifier, entry = timers.popleft()
            if self._inflight[index][identifier] is not entry:
                continue  # answered meanwhile
            if entry[4] <= mix.retries:
                entry[4] += 1
                result.retransmissions += 1
                self._transmit(index, entry[2])
                timers.append((now + mix.timeout, index, identifier, entry))
                continue
            self._inflight[index][identifier] = None
            self._flying -= 1
            self._resting.append((now + mix.timeout, index, identifier))
            result.timeouts += 1
            self.plan.advance(entry[3], entry[5], answered=False)
        while self._resting and self._resting[0][0] <= now:
            _, index, identifier = self._resting.popleft()
            self._free[index].append(identifier)

    # -- timed runs --------------------------------------------------------------------

    def run(self, seconds: float, window: int, *, until_done: bool = False) -> AcctResult:
        """Closed loop for ``seconds``: ``window`` requests in flight; then collect stragglers.

        Requests still unanswered when sending stops are awaited (retransmitted, or
        given up) so that each run's counts are complete. ``until_done``: go on
        until no session is ready and nothing is in flight (the wind-down).
        """
        if not 0 < window <= 256 * len(self.socks):
            raise ValueError(f"window must be 1..{256 * len(self.socks)}")
        result = AcctResult(window=window)
        record: list[float] = []
        cpu0 = time.process_time()
        start = now = time.perf_counter()
        end = start + seconds
        poll, by_fd = self._epoll.poll, self._by_fd
        while now < end or (until_done and self.plan.ready):
            while self._flying < window and self._send(result):
                pass
            events = poll(0.02)
            now = time.perf_counter()
            for fd, _ in events:
                self._receive(by_fd[fd], result, record)
            self._expire(now, result)
        while self._flying:
            events = poll(0.02)
            now = time.perf_counter()
            for fd, _ in events:
                self._receive(by_fd[fd], result, record)
            self._expire(now, result)
        result.duration_s = time.perf_counter() - start
        result.generator_cpu_s = time.process_time() - cpu0
        result.latencies_ms = record
        result.fill_percentiles(record)
        return result

    def wind_down(self, window: int) -> AcctResult:
        """Start no more sessions; send each open session's Stop (no more interims)."""
        self.plan.wind_down()
        return self.run(0.0, window, until_done=True)


def _verify(reply: bytes, authenticator: bytes, secret: bytes) -> bool:
    """Response Authenticator; a Message-Authenticator when present (zero vector, see below)."""
    # loadgen.verify_reply signs the Message-Authenticator over the Request Authenticator,
    # as Access replies are; for an Accounting-Response FreeRADIUS and we use 16 zeros.
    return verify_reply(reply, authenticator, secret, False, ma_vector=_ZERO)


# -- several processes --------------------------------------------------------------------


def _worker(conn: Connection, target: tuple[str, int], secret: bytes, mix: Mix) -> None:
    """A generator in a child process, driven by commands over ``conn``."""
    with AcctGenerator(target, secret, mix) as gen:
        while True:
            command, *args = conn.recv()
            if command == "run":
                conn.send(gen.run(*args))
            elif command == "wind_down":
                conn.send(gen.wind_down(*args))
            elif command == "expectations":
                conn.send(gen.expectations())
            else:
                return


class Generators:
    """One generator, or several in child processes, behind one interface.

    With ``processes`` > 1 each child plays its share of the sessions and of the
    window on its own sockets (``mix.prefix`` keeps their Acct-Session-Ids apart);
    a run's results are merged.
    """

    def __init__(
        self, target: tuple[str, int], secret: bytes, mix: Mix, processes: int = 1
    ) -> None:
        self.processes = processes
        self.local: AcctGenerator | None = None
        self.children: list[tuple[multiprocessing.Process, Connection]] = []
        if processes <= 1:
            self.local = AcctGenerator(target, secret, mix)
            return
        context = multiprocessing.get_context("fork")
        tag = f"{os.getpid():x}{random.getrandbits(16):04x}"
        for n in range(processes):
            share = dataclasses.replace(
                mix,
                sessions=max(1, mix.sessions // processes),
                seed=mix.seed * 1000 + n,
                prefix=f"{tag}p{n}",
                members=mix.members[n::processes],
            )
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker, args=(child, target, secret, share), daemon=True
            )
            process.start()
            child.close()
            self.children.append((process, parent))

    def _all(self, *command: object) -> Iterator[object]:
        for _, conn in self.children:
            conn.send(command)
        for _, conn in self.children:
            yield conn.recv()

    def _split(self, window: int) -> int:
        return max(1, window // self.processes)

    def run(self, seconds: float, window: int) -> AcctResult:
        """One closed-loop run of ``seconds`` with ``window`` in flight in all."""
        if self.local is not None:
            return self.local.run(seconds, window)
        parts = list(self._all("run", seconds, self._split(window)))
        return merge_results(parts)  # type: ignore[arg-type]

    def wind_down(self, window: int) -> AcctResult:
        """Close every open session with its Stop."""
        if self.local is not None:
            return self.local.wind_down(window)
        return merge_results(list(self._all("wind_down", self._split(window))))  # type: ignore[arg-type]

    def expectations(self) -> dict[str, Expectation]:
        """Every session played, by Acct-Session-Id."""
        if self.local is not None:
            return self.local.expectations()
        found: dict[str, Expectation] = {}
        for part in self._all("expectations"):
            found.update(part)  # type: ignore[arg-type]
        return found

    def close(self) -> None:
        """Stop the children (or close the local generator)."""
        if self.local is not None:
            self.local.close()
        for process, conn in self.children:
            with contextlib.suppress(OSError):
                conn.send(("exit",))
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
            conn.close()
        self.children = []

    def __enter__(self) -> Generators:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


FIND_MAX_WINDOWS = (8, 16, 32, 64, 128, 256, 512, 1024)


def find_max(
    run: Callable[[float, int], AcctResult], step_seconds: float, windows: Sequence[int]
) -> tuple[AcctResult, list[AcctResult]]:
    """Closed-loop steps (``run(seconds, window)``) with growing windows; (the best, all).

    Stops once three steps in a row gain less than 3% over the best (one noisy
    step on a shared machine must not end the ramp), or once the server is slow
    enough that requests are retransmitted: a NAS would be sending duplicates,
    and a larger window only queues more.
    """
    steps: list[AcctResult] = []
    best: AcctResult | None = None
    flat = 0
    for window in windows:
        step = run(step_seconds, window)
        steps.append(step)
        if best is None or step.requests_per_second > best.requests_per_second:
            gained = best is None or step.requests_per_second > 1.03 * best.requests_per_second
            best = step
            flat = 0 if gained else flat + 1
        else:
            flat += 1
        if flat >= 3 or step.timeouts or step.retransmissions:
            break
    assert best is not None
    return best, steps


# The load options, shared with accounting.py: (flag, type, default, help).
LOAD_OPTIONS: tuple[tuple[str, type, object, str], ...] = (
    ("--seconds", float, 10.0, "measured seconds (10)"),
    ("--sessions", int, 1000, "sessions open at once (1000)"),
    ("--members", int, 10_000, "members: distinct User-Names (10,000)"),
    ("--window", int, 64, "requests in flight (64)"),
    ("--step-seconds", float, 3.0, "--find-max: seconds per step (3)"),
    ("--processes", int, 1, "load generator processes (1)"),
    ("--timeout", float, 2.0, "seconds before a retransmission (2)"),
    ("--retries", int, 3, "retransmissions before giving up (3)"),
)


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape the load (``mix_from_args`` reads them)."""
    for flag, kind, default, text in LOAD_OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument("--find-max", action="store_true", help="ramp the window, keep the best")
    parser.add_argument(
        "--message-authenticator", action="store_true", help="sign Accounting-Requests too"
    )


def check_load_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse load options out of range (argparse's ``error``: message and exit 2)."""
    for flag, *_ in LOAD_OPTIONS:
        if getattr(args, flag[2:].replace("-", "_")) <= 0:
            parser.error(f"{flag} must be positive")
    if args.window > 256 * SOCKETS * args.processes:
        parser.error(f"--window is at most {256 * SOCKETS} per load generator process")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:1813", help="HOST:PORT (127.0.0.1:1813)")
    parser.add_argument("--secret", required=True, help="shared secret")
    add_load_options(parser)
    args = parser.parse_args(argv)
    check_load_options(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; exit status 1 when any request failed."""
    args = _parse_args(argv)
    host, _, port = args.server.rpartition(":")
    mix = mix_from_args(args, [f"member{i:05d}@bench.test" for i in range(args.members)])
    target = (host.strip("[]") or "127.0.0.1", int(port))
    with Generators(target, args.secret.encode(), mix, args.processes) as gens:
        if args.find_max:
            windows = [w for w in FIND_MAX_WINDOWS if w <= args.sessions]
            best, steps = find_max(gens.run, args.step_seconds, windows)
            for step in steps:
                print(step.describe().splitlines()[0])
            result = best
        else:
            result = gens.run(args.seconds, args.window)
        print(result.describe())
        tail = gens.wind_down(args.window)
        print(f"wind-down: {tail.stops:,} stops, {tail.timeouts} timeouts")
    return 1 if result.errors or tail.errors else 0


if __name__ == "__main__":
    sys.exit(main())
