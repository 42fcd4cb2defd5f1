"""A small RADIUS load generator: one epoll loop, a few UDP sockets, every reply checked.

Standard library only, so it runs against any RADIUS server from any machine
(``python3 bench/loadgen.py --help``). Two modes:

* closed loop (``--concurrency K``): K requests always in flight, a new one
  sent as soon as a reply arrives; measures maximum throughput;
* open loop (``--rate N``): requests sent on a fixed schedule whatever the
  server does; measures latency at a given load.

Each request is an Access-Request with User-Name, User-Password (PAP) or
CHAP-Password (the Request Authenticator is the challenge) and a
Message-Authenticator (RFC 3579 3.2), a fresh random Request Authenticator,
and an Identifier unique on its socket among requests in flight (Identifiers
are 8-bit, hence several sockets for more than 256 in flight). A share
(``--wrong-ratio``) carries a wrong PIN and must be rejected; the rest must be
accepted. Every reply's Response Authenticator (RFC 2865 3) and
Message-Authenticator are verified. A request unanswered after ``--timeout``
seconds counts as an error and is never retransmitted; its Identifier rests
for another timeout so a late reply cannot be mistaken for a newer request's.

Latency runs from the send of the request to the receipt of its reply, as
seen by this process (both timestamps in the same loop iteration as the
syscall).
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import hmac
import os
import random
import select
import socket
import sys
import time
import typing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

Method = Literal["pap", "chap", "mixed"]

ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
_USER_NAME = 1
_USER_PASSWORD = 2
_CHAP_PASSWORD = 3
_CALLED_STATION_ID = 30
_CALLING_STATION_ID = 31
_NAS_IDENTIFIER = 32
_NAS_PORT_TYPE = 61
_WIRELESS_802_11 = 19
_MESSAGE_AUTHENTICATOR = 80
_MA_ZERO = bytes((_MESSAGE_AUTHENTICATOR, 18)) + bytes(16)
_MA_HEAD = _MA_ZERO[:2]
_RANDOM_POOL = 16 * 65536  # bytes of authenticators drawn per os.urandom call


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324 - RADIUS (RFC 2865) mandates MD5


@dataclass(frozen=True, slots=True)
class Credential:
    """One member's login: the email (User-Name) and 5-digit PIN."""

    email: str
    pin: str
    # The member's previous PIN: the "wrong" PIN of a device retrying a stale one.
    stale: str | None = None


@dataclass(frozen=True, slots=True)
class _Planned:
    """A request of the mix, prepared before the timed phase."""

    user_attr: bytes  # User-Name attribute, type and length included
    extra: bytes  # attributes after the credential (stations, NAS), encoded
    password: bytes  # the PIN sent, right or wrong
    pap_block: int  # the PIN NUL-padded to 16 octets, as an int for the XOR
    expected: int  # ACCESS_ACCEPT or ACCESS_REJECT
    chap: bool


@dataclass(slots=True, kw_only=True)
class Latencies:
    """Latency percentiles of a run, in milliseconds, and (optionally) every latency."""

    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def fill_percentiles(self, values_ms: Iterable[float]) -> None:
        """p50/p90/p99/max/mean from ``values_ms``."""
        for name, value in percentiles(values_ms).items():
            setattr(self, f"{name}_ms", value)


@dataclass(slots=True)
class LoadResult(Latencies):
    """What one timed run measured. Latencies are milliseconds."""

    mode: str  # "closed" or "open"
    target_rate: float | None
    concurrency: int | None
    duration_s: float  # from the first send to the last reply or timeout
    sent: int = 0
    ok: int = 0  # replies that verified and carried the expected answer
    accepts: int = 0
    rejects: int = 0
    timeouts: int = 0
    wrong_answers: int = 0  # verified, but accept for a wrong PIN or reject for a right one
    # Response Authenticator or Message-Authenticator wrong or missing; the request then
    # waits for a genuine reply and, failing one, also counts as a timeout.
    bad_authenticators: int = 0
    late_replies: int = 0  # replies to a request already counted as timed out
    unsent: int = 0  # open loop: no free Identifier when a send was due
    send_failures: int = 0  # send() refused (buffer full, ICMP); these also time out
    send_lag_max_ms: float = 0.0  # open loop: worst delay of a send behind its schedule
    loadgen_cpu_us: float = 0.0  # this process's CPU per request sent

    @property
    def errors(self) -> int:
        """Every request that did not end in a verified, expected answer."""
        return self.timeouts + self.wrong_answers + self.bad_authenticators + self.unsent

    @property
    def answered(self) -> int:
        """Requests that got a verified answer, expected or not (what the server CPU served)."""
        return self.ok + self.wrong_answers

    @property
    def generator_cpu_s(self) -> float:
        """This process's CPU over the run, in seconds."""
        return self.loadgen_cpu_us * self.sent / 1e6

    @property
    def requests_per_second(self) -> float:
        """Verified, expected answers per second over the run."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def summary(self) -> dict[str, object]:
        """The numbers, without the raw latencies (JSON-ready)."""
        data = asdict(self)
        del data["latencies_ms"]
        data["errors"] = self.errors
        data["requests_per_second"] = round(self.requests_per_second, 1)
        return data

    def describe(self) -> str:
        """A few human lines."""
        load = (
            f"open loop at {self.target_rate:g}/s"
            if self.mode == "open"
            else f"closed loop, {self.concurrency} in flight"
        )
        return (
            f"{load}: {self.requests_per_second:,.0f} req/s over {self.duration_s:.1f} s "
            f"({self.ok:,} ok: {self.accepts:,} accept, {self.rejects:,} reject)\n"
            f"latency ms: p50 {self.p50_ms:.3f}  p90 {self.p90_ms:.3f}  "
            f"p99 {self.p99_ms:.3f}  max {self.max_ms:.3f}  mean {self.mean_ms:.3f}\n"
            f"errors: {self.errors} (timeouts {self.timeouts}, wrong answers "
            f"{self.wrong_answers}, bad authenticators {self.bad_authenticators}, "
            f"unsent {self.unsent}); late replies {self.late_replies}; "
            f"loadgen CPU {self.loadgen_cpu_us:.1f} us/request"
        )


def read_credentials(path: str | os.PathLike[str]) -> list[Credential]:
    """Read (email, pin) pairs from a CSV with an ``email`` and a ``pin`` column.

    Without a header naming them, the first two columns are taken.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    if "email" in header and "pin" in header:
        e, p = header.index("email"), header.index("pin")
        rows = rows[1:]
    else:
        e, p = 0, 1
    return [Credential(r[e].strip(), r[p].strip()) for r in rows if len(r) > max(e, p)]


def _wrong_pin(pin: str, rng: random.Random) -> str:
    while True:
        candidate = f"{rng.randrange(100_000):05d}"
        if candidate != pin:
            return candidate


def _attr(attr_type: int, value: bytes) -> bytes:
    return bytes((attr_type, len(value) + 2)) + value


def station_attributes(email: str) -> list[tuple[int, bytes]]:
    """What a Wi-Fi access point adds to every Access-Request (RFC 2865 5.30-5.32, 5.41).

    The member's device MAC (Calling-Station-Id) is derived from the email, so
    it is stable: the member's "known device".
    """
    mac = _md5(email.encode("utf-8"))[:6]
    return [
        (_NAS_IDENTIFIER, b"bench-ap"),
        (_CALLED_STATION_ID, b"02-00-00-00-00-01:Coworking"),
        (_CALLING_STATION_ID, "-".join(f"{b:02X}" for b in mac).encode("ascii")),
        (_NAS_PORT_TYPE, _WIRELESS_802_11.to_bytes(4, "big")),
    ]


def plan_requests(
    credentials: Sequence[Credential],
    *,
    wrong_ratio: float = 0.1,
    method: Method = "pap",
    size: int = 65536,
    seed: int = 1,
    stations: bool = True,
) -> list[_Planned]:
    """Draw the request mix: random members, ``wrong_ratio`` of them with a wrong PIN.

    With ``stations``, each request also carries the attributes of
    :func:`station_attributes`, as requests from real access points do.
    """
    if not credentials:
        raise ValueError("no credentials to send")
    rng = random.Random(seed)
    plan = []
    for _ in range(size):
        cred = rng.choice(credentials)
        wrong = rng.random() < wrong_ratio
        pin = (cred.stale or _wrong_pin(cred.pin, rng)) if wrong else cred.pin
        name = cred.email.encode("utf-8")
        password = pin.encode("ascii")
        chap = method == "chap" or (method == "mixed" and rng.random() < 0.5)
        plan.append(
            _Planned(
                user_attr=_attr(_USER_NAME, name),
                extra=b"".join(_attr(t, v) for t, v in station_attributes(cred.email))
                if stations
                else b"",
                password=password,
                pap_block=int.from_bytes(password.ljust(16, b"\x00"), "big"),
                expected=ACCESS_REJECT if wrong else ACCESS_ACCEPT,
                chap=chap,
            )
        )
    return plan


def verify_reply(
    reply: bytes,
    request_authenticator: bytes,
    secret: bytes,
    require_message_authenticator: bool = True,
    *,
    ma_vector: bytes | None = None,
) -> bool:
    """Check a reply's Response Authenticator and Message-Authenticator.

    RFC 2865 3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret). RFC 3579 3.2:
    HMAC-MD5 keyed with the secret over the reply with the Request
    Authenticator in place (or ``ma_vector``: 16 zeros for an
    Accounting-Response) and the Message-Authenticator value zeroed. The
    Identifier is matched by the caller. Never raises on garbage.
    """
    size = len(reply)
    if size < 20:
        return False
    length = (reply[2] << 8) | reply[3]
    if length < 20 or length > size or length > 4096:
        return False
    if length < size:
        reply = reply[:length]
    body = reply[20:]
    if _md5(reply[:4] + request_authenticator + body + secret) != reply[4:20]:
        return False
    # Fast path: Message-Authenticator first, as BlastRADIUS-aware servers send it.
    if length >= 38 and reply[20] == _MESSAGE_AUTHENTICATOR and reply[21] == 18:
        offset = 22
    else:
        offset = _find_message_authenticator(reply)
        if offset is None:
            return not require_message_authenticator
        if offset < 0:
            return False
    vector = request_authenticator if ma_vector is None else ma_vector
    zeroed = reply[:4] + vector + reply[20:offset] + bytes(16) + reply[offset + 16 :]
    return hmac.compare_digest(hmac.digest(secret, zeroed, "md5"), reply[offset : offset + 16])


def _find_message_authenticator(packet: bytes) -> int | None:
    """Offset of the Message-Authenticator value; None if absent, -1 if framing is broken."""
    pos, end, found = 20, len(packet), None
    while pos < end:
        if pos + 2 > end:
            return -1
        attr_len = packet[pos + 1]
        if attr_len < 2 or pos + attr_len > end:
            return -1
        if packet[pos] == _MESSAGE_AUTHENTICATOR:
            if attr_len != 18 or found is not None:
                return -1
            found = pos + 2
        pos += attr_len
    return found


def build_request(
    planned: _Planned,
    identifier: int,
    authenticator: bytes,
    secret: bytes,
    message_authenticator: bool = True,
) -> bytes:
    """Encode one Access-Request (Message-Authenticator first when wanted).

    Attribute order: Message-Authenticator, User-Name, User-Password or
    CHAP-Password, then the planned extra attributes.
    """
    if planned.chap:
        # RFC 2865 5.3 / RFC 1994: ident + MD5(ident + password + challenge),
        # the Request Authenticator being the challenge.
        ident = bytes((identifier,))
        credential = (
            bytes((_CHAP_PASSWORD, 19)) + ident + _md5(ident + planned.password + authenticator)
        )
    else:
        # RFC 2865 5.2: one 16-octet block, c1 = p1 xor MD5(S + RA).
        key = int.from_bytes(_md5(secret + authenticator), "big")
        credential = b"\x02\x12" + (planned.pap_block ^ key).to_bytes(16, "big")
    tail = planned.user_attr + credential + planned.extra
    if not message_authenticator:
        length = 20 + len(tail)
        return (
            bytes((ACCESS_REQUEST, identifier, length >> 8, length & 0xFF)) + authenticator + tail
        )
    length = 38 + len(tail)
    header = bytes((ACCESS_REQUEST, identifier, length >> 8, length & 0xFF))
    mac = hmac.digest(secret, header + authenticator + _MA_ZERO + tail, "md5")
    return header + authenticator + _MA_HEAD + mac + tail


class UdpClient:
    """A few connected, non-blocking UDP sockets to one server, under one epoll object.

    Several sockets because RADIUS Identifiers are 8-bit: each source port
    carries at most 256 requests in flight.
    """

    def __init__(self, target: tuple[str, int], sockets: int) -> None:
        if sockets <= 0:
            raise ValueError("sockets must be positive")
        family = socket.getaddrinfo(target[0], target[1], type=socket.SOCK_DGRAM)[0][0]
        self.socks: list[socket.socket] = []
        for _ in range(sockets):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
            sock.connect(target)  # only the server's datagrams reach us
            sock.setblocking(False)
            self.socks.append(sock)
        self._by_fd = {s.fileno(): i for i, s in enumerate(self.socks)}
        self._epoll = select.epoll()
        for sock in self.socks:
            self._epoll.register(sock.fileno(), select.EPOLLIN)

    def _replies(
        self, index: int, inflight: list, result: LoadResult | typing.Any
    ) -> Iterator[tuple[bytes, float, typing.Any]]:
        """Datagrams waiting on socket ``index`` that may answer a request in flight.

        Yields (datagram, arrival time, the in-flight entry of its Identifier).
        Datagrams shorter than a header count in ``result.bad_authenticators``,
        those for an Identifier with nothing in flight in ``result.late_replies``.
        """
        sock = self.socks[index]
        while True:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:  # ICMP port unreachable from an earlier send
                continue
            now = time.perf_counter()
            if len(data) < 20:
                result.bad_authenticators += 1
                continue
            entry = inflight[data[1]]
            if entry is None:
                result.late_replies += 1
                continue
            yield data, now, entry

    def close(self) -> None:
        """Close the sockets and the epoll object."""
        self._epoll.close()
        for sock in self.socks:
            sock.close()

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class LoadGenerator(UdpClient):
    """Sockets, a request mix and the epoll loop; reusable for several timed runs."""

    def __init__(
        self,
        target: tuple[str, int],
        secret: bytes,
        credentials: Sequence[Credential],
        *,
        wrong_ratio: float = 0.1,
        method: Method = "pap",
        sockets: int = 8,
        timeout: float = 2.0,
        message_authenticator: bool = True,
        require_reply_message_authenticator: bool = True,
        seed: int = 1,
        stations: bool = True,
    ) -> None:
        self.target = target
        self.secret = secret
        self.timeout = timeout
        self.message_authenticator = message_authenticator
        self.require_reply_ma = require_reply_message_authenticator
        self.stations = stations
        self.plan = plan_requests(
            credentials, wrong_ratio=wrong_ratio, method=method, seed=seed, stations=stations
        )
        self._plan_index = 0
        super().__init__(target, sockets)
        self._free: list[collections.deque[int]] = [
            collections.deque(range(256)) for _ in self.socks
        ]
        # In flight: per socket, per Identifier, (sent_at, authenticator, expected) or None.
        self._inflight: list[list[tuple[float, bytes, int] | None]] = [
            [None] * 256 for _ in self.socks
        ]
        self._resting: collections.deque[tuple[float, int, int]] = collections.deque()
        self._random = b""
        self._random_pos = 0

    # -- one request ----------------------------------------------------------------

    def _authenticator(self) -> bytes:
        pos = self._random_pos
        if pos >= len(self._random):
            self._random = os.urandom(_RANDOM_POOL)
            pos = 0
        self._random_pos = pos + 16
        return self._random[pos : pos + 16]

    def _send(self, index: int, result: LoadResult, timers: collections.deque) -> bool:
        """Send the next planned request on socket ``index``; False if it has no free id."""
        free = self._free[index]
        if not free:
            return False
        identifier = free.popleft()
        planned = self.plan[self._plan_index]
        self._plan_index = (self._plan_index + 1) % len(self.plan)
        authenticator = self._authenticator()
        packet = build_request(
            planned, identifier, authenticator, self.secret, self.message_authenticator
        )
        now = time.perf_counter()  # the latency clock starts at the send itself
        entry = (now, authenticator, planned.expected)
        self._inflight[index][identifier] = entry
        try:
            self.socks[index].send(packet)
        except (BlockingIOError, ConnectionRefusedError):
            # Socket buffer full, or ICMP unreachable: the request is lost as on a
            # network, and will time out.
            result.send_failures += 1
        timers.append((now, index, identifier, entry))
        result.sent += 1
        return True

    def _receive(self, index: int, result: LoadResult, record: list[float]) -> int:
        """Drain socket ``index``; returns how many Identifiers it freed."""
        inflight = self._inflight[index]
        free = self._free[index]
        secret, require_ma = self.secret, self.require_reply_ma
        freed = 0
        for data, now, entry in self._replies(index, inflight, result):
            identifier = data[1]
            sent_at, authenticator, expected = entry
            if not verify_reply(data, authenticator, secret, require_ma):
                # A forged or corrupt reply: leave the request waiting for the real one.
                result.bad_authenticators += 1
                continue
            inflight[identifier] = None
            free.append(identifier)
            freed += 1
            code = data[0]
            if code == ACCESS_ACCEPT:
                result.accepts += 1
            elif code == ACCESS_REJECT:
                result.rejects += 1
            if code != expected:
                result.wrong_answers += 1
                continue
            result.ok += 1
            record.append(now - sent_at)
        return freed

    def _expire(self, now: float, result: LoadResult, timers: collections.deque) -> None:
        """Count requests past the timeout; rest their Identifiers, free rested ones."""
        deadline = now - self.timeout
        while timers and timers[0][0] <= deadline:
            _, index, identifier, entry = timers.popleft()
            if self._inflight[index][identifier] is entry:
                self._inflight[index][identifier] = None
                result.timeouts += 1
                self._resting.append((now + self.timeout, index, identifier))
        while self._resting and self._resting[0][0] <= now:
            _, index, identifier = self._resting.popleft()
            self._free[index].append(identifier)

    def _in_flight(self) -> int:
        return sum(256 - len(f) for f in self._free) - len(self._resting)

    # -- timed runs -------------------------------------------------------------------

    def run(
        self,
        duration: float,
        *,
        rate: float | None = None,
        concurrency: int | None = None,
        keep_latencies: bool = False,
    ) -> LoadResult:
        """Send for ``duration`` seconds, then wait for the stragglers (up to the timeout).

        Exactly one of ``rate`` (open loop, requests per second) or
        ``concurrency`` (closed loop, requests in flight) must be given.
        """
        if (rate is None) == (concurrency is None):
            raise ValueError("give exactly one of rate or concurrency")
        if concurrency is not None and not 0 < concurrency <= 256 * len(self.socks):
            raise ValueError(f"concurrency must be 1..{256 * len(self.socks)}")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        result = LoadResult(
            mode="open" if rate is not None else "closed",
            target_rate=rate,
            concurrency=concurrency,
            duration_s=0.0,
        )
        record: list[float] = []
        timers: collections.deque = collections.deque()
        cpu_start = time.process_time()
        start = time.perf_counter()
        if concurrency is not None:
            last = self._closed_loop(start, duration, concurrency, result, record, timers)
        else:
            assert rate is not None
            last = self._open_loop(start, duration, rate, result, record, timers)
        sending_ended = time.perf_counter()
        last = self._drain(last, result, record, timers)
        # Until the last reply; at least the whole send phase (a server that went
        # silent must not shrink the run to nothing).
        result.duration_s = max(last, sending_ended) - start
        cpu = time.process_time() - cpu_start
        result.loadgen_cpu_us = cpu * 1e6 / result.sent if result.sent else 0.0
        result.fill_percentiles(x * 1000.0 for x in record)
        if keep_latencies:
            result.latencies_ms = [x * 1000.0 for x in record]
        return result

    def _closed_loop(
        self,
        start: float,
        duration: float,
        concurrency: int,
        result: LoadResult,
        record: list[float],
        timers: collections.deque,
    ) -> float:
        socks = len(self.socks)
        end = start + duration
        now = start
        for i in range(concurrency):
            self._send(i % socks, result, timers)
        poll, by_fd = self._epoll.poll, self._by_fd
        last = start
        while now < end:
            events = poll(0.05)
            now = time.perf_counter()
            for fd, _ in events:
                index = by_fd[fd]
                freed = self._receive(index, result, record)
                last = now
                if now < end:
                    for _ in range(freed):
                        self._send(index, result, timers)
            before = result.timeouts
            self._expire(now, result, timers)
            # Keep K in flight: replace timed-out requests (their ids rest; use any socket).
            for j in range(result.timeouts - before):
                for k in range(socks):
                    if self._send((j + k) % socks, result, timers):
                        break
        return last

    def _open_loop(
        self,
        start: float,
        duration: float,
        rate: float,
        result: LoadResult,
        record: list[float],
        timers: collections.deque,
    ) -> float:
        socks = len(self.socks)
        interval = 1.0 / rate
        total = int(duration * rate)
        poll, by_fd = self._epoll.poll, self._by_fd
        next_index = 0
        due = start
        turn = 0
        last = start
        now = start
        while next_index < total:
            while due <= now and next_index < total:
                lag = now - due
                if lag > result.send_lag_max_ms / 1000.0:
                    result.send_lag_max_ms = lag * 1000.0
                for k in range(socks):
                    if self._send((turn + k) % socks, result, timers):
                        break
                else:
                    result.unsent += 1
                turn += 1
                next_index += 1
                due = start + next_index * interval
            events = poll(max(0.0, min(0.05, due - time.perf_counter())))
            now = time.perf_counter()
            for fd, _ in events:
                self._receive(by_fd[fd], result, record)
                last = now
            self._expire(now, result, timers)
        return last

    def _drain(
        self, last: float, result: LoadResult, record: list[float], timers: collections.deque
    ) -> float:
        """After the send phase: collect replies until nothing is in flight."""
        poll, by_fd = self._epoll.poll, self._by_fd
        while self._in_flight() > 0:
            events = poll(0.05)
            now = time.perf_counter()
            for fd, _ in events:
                self._receive(by_fd[fd], result, record)
                last = now
            self._expire(now, result, timers)
            if not timers and self._in_flight() > 0:
                break  # nothing left to wait for but resting ids
        # Identifiers resting after timeouts wait out their rest before the next run.
        return last

    def probe(self, credential: Credential, wait: float = 1.0) -> int | None:
        """Send one request for ``credential``; the verified reply code, or None."""
        plan = plan_requests([credential], wrong_ratio=0.0, size=1, stations=self.stations)[0]
        identifier = self._free[0][0]
        authenticator = os.urandom(16)
        packet = build_request(
            plan, identifier, authenticator, self.secret, self.message_authenticator
        )
        reply = exchange(
            self.socks[0], packet, authenticator, self.secret, self.require_reply_ma, wait
        )
        return None if reply is None else reply[0]


def exchange(
    sock: socket.socket,
    packet: bytes,
    authenticator: bytes,
    secret: bytes,
    require_message_authenticator: bool,
    wait: float,
) -> bytes | None:
    """Send ``packet`` on a connected socket; its verified reply within ``wait`` s, or None.

    A one-off, outside the timed loops (readiness probes): other datagrams are skipped.
    """
    try:
        sock.send(packet)
    except OSError:
        return None
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        try:
            data = sock.recv(4096)
        except OSError:
            return None  # ICMP port unreachable: nobody listens yet
        if (
            len(data) >= 20
            and data[1] == packet[1]
            and verify_reply(data, authenticator, secret, require_message_authenticator)
        ):
            return data
    return None


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))
    return ordered[rank]


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean of ``values`` (all 0.0 when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return dict.fromkeys(("p50", "p90", "p99", "max", "mean"), 0.0)
    return {
        "p50": _percentile(ordered, 0.50),
        "p90": _percentile(ordered, 0.90),
        "p99": _percentile(ordered, 0.99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def run_load(
    target: tuple[str, int],
    secret: bytes,
    credentials: Sequence[Credential],
    *,
    duration: float = 10.0,
    rate: float | None = None,
    concurrency: int | None = None,
    wrong_ratio: float = 0.1,
    method: Method = "pap",
    sockets: int = 8,
    timeout: float = 2.0,
    warmup: float = 0.0,
    message_authenticator: bool = True,
    require_reply_message_authenticator: bool = True,
    stations: bool = True,
) -> LoadResult:
    """One-shot: open the sockets, optionally warm up, run once, close."""
    with LoadGenerator(
        target,
        secret,
        credentials,
        wrong_ratio=wrong_ratio,
        method=method,
        sockets=sockets,
        timeout=timeout,
        message_authenticator=message_authenticator,
        require_reply_message_authenticator=require_reply_message_authenticator,
        stations=stations,
    ) as gen:
        if warmup > 0:
            gen.run(warmup, rate=rate, concurrency=concurrency)
        return gen.run(duration, rate=rate, concurrency=concurrency)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("credentials", help="CSV with email and pin columns")
    parser.add_argument("--server", default="127.0.0.1:1812", help="HOST:PORT (127.0.0.1:1812)")
    parser.add_argument("--secret", required=True, help="shared secret")
    load = parser.add_mutually_exclusive_group(required=True)
    load.add_argument("--rate", type=float, help="open loop: requests per second")
    load.add_argument("--concurrency", type=int, help="closed loop: requests in flight")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (1)")
    parser.add_argument("--wrong-ratio", type=float, default=0.1, help="share of wrong PINs")
    parser.add_argument("--method", choices=("pap", "chap", "mixed"), default="pap")
    parser.add_argument("--sockets", type=int, default=8, help="source sockets (8)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request (2)")
    parser.add_argument(
        "--no-message-authenticator", action="store_true", help="send requests without it"
    )
    parser.add_argument(
        "--allow-reply-without-message-authenticator",
        action="store_true",
        help="accept replies lacking Message-Authenticator (pre-BlastRADIUS servers)",
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="send only User-Name and the password (no NAS and station attributes)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; exit status 1 when any request failed."""
    args = _parse_args(argv)
    host, _, port = args.server.rpartition(":")
    credentials = read_credentials(args.credentials)
    result = run_load(
        (host.strip("[]") or "127.0.0.1", int(port)),
        args.secret.encode(),
        credentials,
        duration=args.duration,
        rate=args.rate,
        concurrency=args.concurrency,
        wrong_ratio=args.wrong_ratio,
        method=args.method,
        sockets=args.sockets,
        timeout=args.timeout,
        warmup=args.warmup,
        message_authenticator=not args.no_message_authenticator,
        require_reply_message_authenticator=not args.allow_reply_without_message_authenticator,
        stations=not args.bare,
    )
    if args.json:
        import json

        print(json.dumps(result.summary(), indent=2))
    else:
        print(result.describe())
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
