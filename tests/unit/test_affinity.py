"""EAP device affinity across ``--workers`` (runtime/affinity.py): key, owner, forwarding."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from radius_server.protocol import codes as c
from radius_server.runtime import affinity
from radius_server.runtime.affinity import (
    AffinityRouter,
    WorkerPeers,
    affinity_key,
    decode,
    encode,
    owner,
)
from tests.unit.eap_support import access_request
from tests.unit.engine_harness import RecordingLog

EAP_IDENTITY = b"\x02\x01\x00\x0e\x01anonymous"
STATION = b"02-00-00-AA-BB-CC"


def eap_request(*attributes: tuple[int, bytes]) -> bytes:
    """A signed EAP Access-Request with these attributes besides its EAP-Message."""
    packet, _ = access_request([*attributes, (c.EAP_MESSAGE, EAP_IDENTITY)])
    return packet


@pytest.mark.parametrize(
    "written",
    [
        b"02-00-00-AA-BB-CC",
        b"02:00:00:aa:bb:cc",
        b"02:00:00:AA:BB:CC",
        b"020000aabbcc",
        b"0200.00aa.bbcc",
        b" 02-00-00-aa-bb-cc ",
    ],
)
def test_every_mac_notation_is_one_device(written: bytes) -> None:
    packet = eap_request((c.USER_NAME, b"anonymous"), (c.CALLING_STATION_ID, written))
    assert affinity_key(packet) == b"mac:02:00:00:aa:bb:cc"


def test_a_station_that_is_no_mac_is_kept_as_written() -> None:
    packet = eap_request((c.CALLING_STATION_ID, b"Port 7"))
    assert affinity_key(packet) == b"mac:port 7"


def test_without_a_station_the_user_name_is_the_device() -> None:
    assert affinity_key(eap_request((c.USER_NAME, b"Anonymous@Example.org"))) == (
        b"user:anonymous@example.org"
    )
    assert affinity_key(eap_request((c.CALLING_STATION_ID, b""), (c.USER_NAME, b"x"))) == b"user:x"


def test_neither_station_nor_user_is_handled_where_it_arrived() -> None:
    assert affinity_key(eap_request()) is None


def test_only_eap_access_requests_move() -> None:
    pap, _ = access_request(
        [(c.USER_NAME, b"OO@example.org"), (c.CALLING_STATION_ID, STATION), (c.USER_PASSWORD, b"1")]
    )
    assert b"\x4f" in pap[20:]  # the byte search alone does not decide
    assert affinity_key(pap) is None
    # EAP-Message with a User-Password (RFC 3579 3.3: never together) is the normal path's.
    both = eap_request((c.CALLING_STATION_ID, STATION), (c.USER_PASSWORD, b"1"))
    assert affinity_key(both) is None
    # The same attributes in another code (an Accounting-Request) stay too.
    eap = eap_request((c.CALLING_STATION_ID, STATION))
    assert affinity_key(bytes([c.Code.ACCOUNTING_REQUEST]) + eap[1:]) is None


@pytest.mark.parametrize(
    "cut",
    [
        lambda p: p[:19],  # shorter than a header
        lambda p: p[:2] + (19).to_bytes(2, "big") + p[4:],  # length below the header
        lambda p: p[:2] + (len(p) + 1).to_bytes(2, "big") + p[4:],  # longer than received
        lambda p: p[:21] + b"\x01" + p[22:],  # an attribute of length 1
        lambda p: p[:21] + b"\xff" + p[22:],  # an attribute past the end
        lambda p: p[:2] + (len(p) - 1).to_bytes(2, "big") + p[4:],  # the last one cut
    ],
)
def test_a_malformed_packet_is_handled_where_it_arrived(cut: Any) -> None:
    packet = eap_request((c.CALLING_STATION_ID, STATION))
    assert affinity_key(packet) is not None
    assert affinity_key(cut(packet)) is None


def test_bytes_past_the_length_field_are_padding() -> None:
    packet = eap_request((c.CALLING_STATION_ID, STATION))
    assert affinity_key(packet + b"\x1f\x03x") == affinity_key(packet)


# Fixed values: a change of hash or key format moves every device's sessions at an
# upgrade, so it must be deliberate.
@pytest.mark.parametrize(
    ("key", "workers", "expected"),
    [
        (b"mac:02:00:00:aa:bb:cc", 2, 0),
        (b"mac:02:00:00:aa:bb:cc", 3, 0),
        (b"mac:02:00:00:aa:bb:cd", 2, 1),
        (b"mac:02:00:00:aa:bb:cd", 4, 3),
        (b"user:anonymous", 2, 0),
    ],
)
def test_the_owner_is_fixed(key: bytes, workers: int, expected: int) -> None:
    assert owner(key, workers) == expected


def test_the_owner_is_the_same_in_every_process() -> None:
    code = (
        "from radius_server.runtime.affinity import owner;"
        "print([owner(b'mac:02:00:00:%02x:00:01' % n, 3) for n in range(32)])"
    )
    answers = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        answers.add(done.stdout)
    owners = [owner(b"mac:02:00:00:%02x:00:01" % n, 3) for n in range(32)]
    assert answers == {f"{owners}\n"}
    assert set(owners) == {0, 1, 2}  # spread over every worker


def test_forwarded_messages_round_trip() -> None:
    assert decode(encode(b"packet", ("::ffff:10.0.0.1", 1812))) == (
        b"packet",
        ("::ffff:10.0.0.1", 1812),
    )
    assert decode(b"\x07") is None
    assert decode(b"\x07\x14\x00") is None  # no address
    assert decode(b"\x07\x14\x09short") is None


# -- the router, with real Unix sockets ---------------------------------------------------


def _pair(directory: Path) -> tuple[list[AffinityRouter], list[list[Any]], RecordingLog]:
    """Two routers (workers 0 and 1); each handler records what it handled."""
    log = RecordingLog()
    handled: list[list[Any]] = [[], []]
    routers = [AffinityRouter(WorkerPeers(n, 2, directory), log) for n in range(2)]
    return routers, handled, log


def _station_owned_by(index: int) -> bytes:
    for n in range(256):
        station = b"02:00:00:00:00:%02x" % n
        if owner(b"mac:" + station, 2) == index:
            return station
    raise AssertionError


def test_eap_of_a_device_owned_elsewhere_is_forwarded_and_answered_there(tmp_path: Path) -> None:
    async def run() -> None:
        routers, handled, log = _pair(tmp_path)
        handlers = []
        for n, router in enumerate(routers):
            inner = lambda data, source, n=n: handled[n].append((data, source)) or (b"r", 0.0)  # noqa: E731
            handlers.append(router.wrap(inner))
        answered: list[Any] = []
        for n, router in enumerate(routers):
            # The endpoint's deliver: handled by that worker's own wrapped handler.
            router.start(lambda data, source, n=n: answered.append((n, handlers[n](data, source))))
        mine = eap_request((c.CALLING_STATION_ID, _station_owned_by(0)))
        theirs = eap_request((c.CALLING_STATION_ID, _station_owned_by(1)))
        pap, _ = access_request([(c.USER_NAME, b"a"), (c.CALLING_STATION_ID, _station_owned_by(1))])
        assert handlers[0](mine, ("10.0.0.1", 1000)) == (b"r", 0.0)
        assert handlers[0](pap, ("10.0.0.1", 1001)) == (b"r", 0.0)
        assert handlers[0](theirs, ("10.0.0.2", 1002)) is None  # forwarded: no reply here
        for _ in range(100):
            if answered:
                break
            await asyncio.sleep(0.01)
        assert handled[0] == [(mine, ("10.0.0.1", 1000)), (pap, ("10.0.0.1", 1001))]
        assert handled[1] == [(theirs, ("10.0.0.2", 1002))]
        assert answered == [(1, (b"r", 0.0))]
        assert routers[0].stats == {"forwarded": 1, "received": 0, "local": 0, "dropped": 0}
        assert routers[1].stats == {"forwarded": 0, "received": 1, "local": 0, "dropped": 0}
        for router in routers:
            router.close()
        assert [e["worker"] for e in log.named("affinity_stopped")] == [0, 1]

    asyncio.run(run())


def test_an_unreachable_owner_means_local_handling_logged_once(tmp_path: Path) -> None:
    async def run() -> None:
        routers, handled, log = _pair(tmp_path)
        now = [100.0]
        routers[0].clock = lambda: now[0]
        handler = routers[0].wrap(lambda data, source: handled[0].append(data) or (b"r", 0.0))
        routers[0].start(lambda data, source: None)  # worker 1 never started
        theirs = eap_request((c.CALLING_STATION_ID, _station_owned_by(1)))
        for _ in range(3):
            assert handler(theirs, ("10.0.0.2", 1002)) == (b"r", 0.0)
            now[0] += 2 * affinity.RETRY_SECONDS  # tried again each time: still away
        assert len(handled[0]) == 3
        assert routers[0].stats["local"] == 3
        assert log.named("affinity_peer_unreachable") == [
            {
                "event": "affinity_peer_unreachable",
                "level": "warning",
                "worker": 0,
                "peer": 1,
                "error": "ENOENT",
                "handled": "locally",
            }
        ]
        # Worker 1 comes up: forwarded from the next retry on.
        routers[1].wrap(lambda data, source: handled[1].append(data) or None)
        routers[1].start(lambda data, source: handled[1].append(data))
        assert handler(theirs, ("10.0.0.2", 1002)) is None
        assert routers[0].stats["forwarded"] == 1
        # Gone again: the send fails, handled here, not logged again within the minute.
        routers[1].close()
        assert handler(theirs, ("10.0.0.2", 1002)) == (b"r", 0.0)
        assert len(log.named("affinity_peer_unreachable")) == 1
        routers[0].close()

    asyncio.run(run())


def test_a_busy_owner_queues_then_drops_past_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(affinity, "QUEUE_MAX", 50)

    async def run() -> None:
        routers, handled, _log = _pair(tmp_path)
        handler = routers[0].wrap(lambda data, source: (b"r", 0.0))
        routers[0].start(lambda data, source: None)
        routers[1].start(lambda data, source: handled[1].append(data))
        # Worker 1 reads nothing until the loop runs: its socket's queue fills, then ours.
        theirs = eap_request((c.CALLING_STATION_ID, _station_owned_by(1)))
        sent = 400
        for _ in range(sent):
            assert handler(theirs, ("10.0.0.2", 1002)) is None
        stats = routers[0].stats
        assert stats["dropped"] > 0
        assert len(routers[0].others[1].queue) == 50
        for _ in range(200):
            if len(handled[1]) == sent - stats["dropped"]:
                break
            await asyncio.sleep(0.01)
        # Everything not dropped arrived, in order, and the queue drained.
        assert len(handled[1]) == sent - stats["dropped"] == stats["forwarded"]
        assert routers[1].stats["received"] == stats["forwarded"]
        assert not routers[0].others[1].queue
        for router in routers:
            router.close()

    asyncio.run(run())
