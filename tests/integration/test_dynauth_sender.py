"""runtime/dynauth.send_request over real UDP, against a tiny access point written here.

The in-test DAS answers with the hashlib reference (tests/unit/protocol/dynauth_reference.py),
not with the code under test. radclient (Debian freeradius-utils) cross-checks both
sides: its Disconnect-Request must equal ours byte for byte, and it must accept the
replies our decoder accepts. hostapd, a real DAS, is in test_dynauth_hostapd.py.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.authenticator import Authenticity, check_request_authenticity
from radius_server.protocol.dynauth import decode_response, encode_request, session_attributes
from radius_server.protocol.packet import decode_request
from radius_server.runtime.dynauth import DynAuthOutcome, DynAuthStatus, send_request
from tests.conftest import require_tool
from tests.unit.engine_harness import RecordingLog
from tests.unit.protocol import dynauth_reference as ref

SECRET = b"loopback-das-secret-42"
FIELDS = {"user": "ana@example.com", "session_id": 17, "reason": "pin_changed"}
# Short waits: every test ends on an answer or after the whole schedule, never on a clock.
FAST = (0.05, 0.05, 0.05)
# Two quick tries, then room enough for the answer to the third.
THIRD_TRY = (0.05, 0.05, 10.0)

T = TypeVar("T")
Replier = Callable[[bytes, int], list[bytes]]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one test's coroutine on a fresh event loop."""
    return asyncio.run(coro)


def answer(code_offset: int = 1, *, secret: bytes = SECRET, cause: int | None = None) -> Replier:
    """Answer every request: ACK (offset 1) or NAK (offset 2) of its own family."""

    def replier(request: bytes, _count: int) -> list[bytes]:
        attributes = [] if cause is None else [ref.error_cause(cause)]
        return [
            ref.sign_reply(request[0] + code_offset, request[1], request[4:20], secret, attributes)
        ]

    return replier


class Das(asyncio.DatagramProtocol):
    """A dynamic-authorization server that records requests and answers as told."""

    def __init__(self, replier: Replier) -> None:
        self.replier = replier
        self.received: list[tuple[bytes, tuple[Any, ...]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not a DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received.append((data, addr))
        assert self.transport is not None
        for datagram in self.replier(data, len(self.received)):
            self.transport.sendto(datagram, addr)

    async def wait_for(self, count: int) -> None:
        """Until ``count`` requests arrived (bounded)."""
        async with asyncio.timeout(10):
            while len(self.received) < count:
                await asyncio.sleep(0.01)


@asynccontextmanager
async def das(replier: Replier, host: str = "127.0.0.1") -> AsyncIterator[tuple[Das, int]]:
    """A running Das on an ephemeral port: (protocol, port)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Das(replier), local_addr=(host, 0)
    )
    try:
        yield protocol, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def attributes() -> list[tuple[int, bytes]]:
    return session_attributes(
        now=1_700_000_000,
        user_name="ana@example.com",
        acct_session_id="5A3F0C1D2E3B4A59",
        calling_station_id="02-00-00-00-00-01",
        nas_identifier="ap-lobby",
    )


async def send(
    port: int,
    log: RecordingLog,
    *,
    timeouts: tuple[float, ...] = FAST,
    code: int = c.Code.DISCONNECT_REQUEST,
    host: str = "127.0.0.1",
    secret: bytes = SECRET,
) -> DynAuthOutcome:
    return await send_request(
        (host, port),
        secret,
        code,
        attributes(),
        timeouts=timeouts,
        log=log,
        log_fields=FIELDS,
    )


def assert_no_secret(log: RecordingLog) -> None:
    text = repr(log.events)
    assert SECRET.decode() not in text and "secret" not in {k for e in log.events for k in e}


def test_ack() -> None:
    log = RecordingLog()

    async def main() -> tuple[DynAuthOutcome, Das, int]:
        async with das(answer()) as (server, port):
            return await send(port, log), server, port

    outcome, server, port = run(main())
    assert outcome.status is DynAuthStatus.ACKED and outcome.acked
    assert outcome.attempts == 1 and outcome.error_cause is None and outcome.detail is None
    assert outcome.reply is not None and outcome.reply.code == c.Code.DISCONNECT_ACK
    [(request, _)] = server.received
    assert ref.request_is_authentic(request, SECRET)
    assert request[0] == c.Code.DISCONNECT_REQUEST and request[1] == outcome.identifier

    [sent] = log.named("disconnect_sent")
    assert sent["level"] == "info"
    assert sent["target"] == f"127.0.0.1:{port}" and sent["attempt"] == 1
    assert sent["identifier"] == outcome.identifier
    [acked] = log.named("disconnect_acked")
    for line in (sent, acked):
        assert {k: line[k] for k in FIELDS} == FIELDS
    assert_no_secret(log)


def test_nak_with_error_cause() -> None:
    log = RecordingLog()

    async def main() -> DynAuthOutcome:
        async with das(answer(2, cause=503)) as (_, port):
            return await send(port, log)

    outcome = run(main())
    assert outcome.status is DynAuthStatus.NAK and not outcome.acked
    assert (outcome.error_cause, outcome.error_name) == (503, "Session-Context-Not-Found")
    [nak] = log.named("disconnect_nak")
    assert nak["level"] == "warning"
    assert (nak["error_cause"], nak["error_name"]) == (503, "Session-Context-Not-Found")
    assert nak["user"] == "ana@example.com" and nak["reason"] == "pin_changed"
    assert_no_secret(log)


def test_only_the_second_retransmission_is_answered() -> None:
    """The packet goes out unchanged each time, and the late answer is taken."""
    log = RecordingLog()

    def third_only(request: bytes, count: int) -> list[bytes]:
        return answer()(request, count) if count == 3 else []

    async def main() -> tuple[DynAuthOutcome, Das]:
        async with das(third_only) as (server, port):
            return await send(port, log, timeouts=THIRD_TRY), server

    outcome, server = run(main())
    assert outcome.status is DynAuthStatus.ACKED and outcome.attempts == 3
    packets = {data for data, _ in server.received}
    assert len(server.received) == 3 and len(packets) == 1  # same bytes: same id and authenticator
    assert [e["attempt"] for e in log.named("disconnect_sent")] == [1, 2, 3]
    assert log.named("disconnect_acked")[0]["attempts"] == 3


def test_wrong_authenticator_is_ignored_until_timeout() -> None:
    log = RecordingLog()

    async def main() -> tuple[DynAuthOutcome, Das]:
        async with das(answer(secret=b"not-the-secret")) as (server, port):
            outcome = await send(port, log)
            await server.wait_for(3)
            return outcome, server

    outcome, _ = run(main())
    assert outcome.status is DynAuthStatus.TIMEOUT and outcome.attempts == 3
    assert outcome.reply is None and outcome.error_cause is None
    ignored = log.named("disconnect_ignored")
    assert ignored and all(e["detail"] == "bad_authenticator" for e in ignored)
    assert all(e["level"] == "debug" for e in ignored)
    [timeout] = log.named("disconnect_timeout")
    assert timeout["attempts"] == 3 and timeout["level"] == "warning"
    assert_no_secret(log)


def test_strays_before_the_answer_are_ignored() -> None:
    """A forged reply and one for another request come first; the right one still counts."""
    log = RecordingLog()

    def noisy(request: bytes, count: int) -> list[bytes]:
        good = answer()(request, count)[0]
        forged = answer(secret=b"guess")(request, count)[0]
        other_id = ref.sign_reply(41, (request[1] + 1) % 256, request[4:20], SECRET, [])
        wrong_kind = ref.sign_reply(c.Code.COA_ACK, request[1], request[4:20], SECRET, [])
        return [forged, other_id, wrong_kind, b"\x29", good]

    async def main() -> DynAuthOutcome:
        async with das(noisy) as (_, port):
            return await send(port, log, timeouts=(10.0,))

    outcome = run(main())
    assert outcome.status is DynAuthStatus.ACKED and outcome.attempts == 1
    details = [e["detail"] for e in log.named("disconnect_ignored")]
    assert details == ["bad_authenticator", "wrong_identifier", "unexpected_code", "malformed"]


def test_silence_times_out_after_the_whole_schedule() -> None:
    log = RecordingLog()

    async def main() -> tuple[DynAuthOutcome, Das]:
        async with das(lambda _request, _count: []) as (server, port):
            outcome = await send(port, log, timeouts=(0.02, 0.04, 0.08, 0.16))
            await server.wait_for(4)
            return outcome, server

    outcome, server = run(main())
    assert outcome.status is DynAuthStatus.TIMEOUT and outcome.attempts == 4
    assert len(server.received) == 4 and len({d for d, _ in server.received}) == 1
    assert len({addr for _, addr in server.received}) == 1  # one socket for all tries
    assert len(log.named("disconnect_sent")) == 4 and log.named("disconnect_timeout")


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_port_unreachable_is_an_error() -> None:
    """Nothing listens: the ICMP answer ends the request at once, as an error."""
    log = RecordingLog()
    outcome = run(send(_closed_udp_port(), log, timeouts=(10.0, 10.0)))
    assert outcome.status is DynAuthStatus.ERROR
    assert outcome.detail == "ConnectionRefusedError(ECONNREFUSED)"
    [error] = log.named("disconnect_error")
    assert error["detail"] == outcome.detail and error["level"] == "warning"
    assert_no_secret(log)


def test_request_that_cannot_be_encoded_is_an_error() -> None:
    log = RecordingLog()

    async def main() -> DynAuthOutcome:
        return await send_request(
            ("127.0.0.1", 9),
            SECRET,
            c.Code.DISCONNECT_REQUEST,
            [(c.USER_NAME, b"x" * 300)],
            log=log,
        )

    outcome = run(main())
    assert outcome.status is DynAuthStatus.ERROR and outcome.detail == "encode_error"
    assert outcome.attempts == 0 and not log.named("disconnect_sent")


def test_ipv6() -> None:
    log = RecordingLog()

    async def main() -> DynAuthOutcome:
        async with das(answer(), host="::1") as (_, port):
            return await send(port, log, host="::1", timeouts=(10.0,))

    outcome = run(main())
    assert outcome.status is DynAuthStatus.ACKED
    assert log.named("disconnect_sent")[0]["target"].startswith("[::1]:")


def test_coa_request() -> None:
    log = RecordingLog()

    async def main() -> tuple[DynAuthOutcome, Das]:
        async with das(answer()) as (server, port):
            return await send(port, log, code=c.Code.COA_REQUEST, timeouts=(10.0,)), server

    outcome, server = run(main())
    assert outcome.acked and outcome.reply is not None
    assert outcome.reply.code == c.Code.COA_ACK
    assert server.received[0][0][0] == c.Code.COA_REQUEST
    assert log.named("coa_sent") and log.named("coa_acked")


def test_many_requests_in_parallel() -> None:
    """Each request has its own socket; identifiers may repeat without confusion."""
    log = RecordingLog()
    count = 60

    def shuffled(request: bytes, n: int) -> list[bytes]:
        # Every third one gets a NAK, the others an ACK.
        return answer(2 if request[1] % 3 == 0 else 1, cause=None)(request, n)

    async def main() -> tuple[list[DynAuthOutcome], Das]:
        async with das(shuffled) as (server, port):
            outcomes = await asyncio.gather(
                *(send(port, log, timeouts=(10.0,)) for _ in range(count))
            )
            return list(outcomes), server

    outcomes, server = run(main())
    assert len(outcomes) == count
    for outcome in outcomes:
        expected = DynAuthStatus.NAK if outcome.identifier % 3 == 0 else DynAuthStatus.ACKED
        assert outcome.status is expected and outcome.attempts == 1
    assert len({addr for _, addr in server.received}) == count
    assert len(log.named("disconnect_sent")) == count


def test_cancelled_request_closes_its_socket() -> None:
    log = RecordingLog()

    async def main() -> None:
        async with das(lambda _request, _count: []) as (server, port):
            task = asyncio.create_task(send(port, log, timeouts=(60.0,)))
            await server.wait_for(1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())
    assert not log.named("disconnect_timeout")


# --- radclient ---------------------------------------------------------------------------

RADCLIENT_INPUT = """\
Message-Authenticator = 0x00
User-Name = "ana@example.com"
Acct-Session-Id = "5A3F0C1D2E3B4A59"
Calling-Station-Id = "02-00-00-00-00-01"
NAS-Identifier = "ap-lobby"
Event-Timestamp = 1700000000
"""


def radclient(port: int, secret: bytes = SECRET) -> subprocess.CompletedProcess[str]:
    """One Disconnect-Request from radclient (one try)."""
    tool = require_tool("radclient")
    return subprocess.run(
        [tool, "-x", "-r", "1", "-t", "2", f"127.0.0.1:{port}", "disconnect", secret.decode()],
        input=RADCLIENT_INPUT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def radclient_against(replier: Replier) -> tuple[subprocess.CompletedProcess[str], bytes, bytes]:
    """Run radclient against a Das; (its result, its request, our Das's reply)."""
    replies: list[bytes] = []

    def recording(request: bytes, count: int) -> list[bytes]:
        out = replier(request, count)
        replies.extend(out)
        return out

    async def main() -> tuple[subprocess.CompletedProcess[str], bytes]:
        async with das(recording) as (server, port):
            result = await asyncio.to_thread(radclient, port)
            return result, server.received[0][0]

    result, request = run(main())
    return result, request, replies[0]


def test_radclient_request_equals_ours_and_verifies() -> None:
    result, request, reply = radclient_against(answer())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Received Disconnect-ACK" in result.stdout

    # radclient's request, read with the project's decoder and checked by our verifier...
    decoded = decode_request(request)
    assert decoded.code == c.Code.DISCONNECT_REQUEST
    assert check_request_authenticity(decoded, SECRET) is Authenticity.OK
    # ...is exactly what our encoder builds from the same attributes and identifier.
    assert decoded.attributes[0][0] == c.MESSAGE_AUTHENTICATOR
    ours = encode_request(
        c.Code.DISCONNECT_REQUEST, decoded.identifier, SECRET, list(decoded.attributes[1:])
    )
    assert ours == request
    assert attributes() == list(decoded.attributes[1:])
    # The reply radclient accepted is the reply our decoder accepts.
    assert decode_response(reply, decoded.identifier, request[4:20], SECRET) is not None


def test_radclient_reads_our_kind_of_nak() -> None:
    result, request, reply = radclient_against(answer(2, cause=503))
    assert "Received Disconnect-NAK" in result.stdout, result.stdout + result.stderr
    assert "Error-Cause = Session-Context-Not-Found" in result.stdout
    decoded = decode_response(reply, request[1], request[4:20], SECRET)
    assert decoded is not None and decoded.error_name == "Session-Context-Not-Found"


def test_radclient_and_we_both_refuse_a_badly_signed_reply() -> None:
    result, request, reply = radclient_against(answer(secret=b"wrong"))
    assert result.returncode != 0
    assert "invalid Message-Authenticator" in result.stdout + result.stderr
    assert decode_response(reply, request[1], request[4:20], SECRET) is None


def test_an_empty_schedule_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        run(send(9, RecordingLog(), timeouts=()))
