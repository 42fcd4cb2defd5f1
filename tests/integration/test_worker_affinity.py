"""``serve --workers 2``: a device roaming between access points resumes on the worker owning it.

The kernel hashes each NAS address and port to one worker; a TLS session resumes only in
the process that made it. A relay (``holding_proxy`` with ``roam``) sends each of
``eapol_test -r 3``'s conversations from a new source port, as a device moving to another
access point does: the worker the kernel picks forwards the device's EAP to its owner
(runtime/affinity.py), so every reconnect resumes and one worker answers the device.
PAP is never forwarded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request
from tests.integration.holding_proxy import holding_proxy
from tests.integration.metrics_scrape import scrape, value
from tests.integration.test_eap import SECRET, Eap, _eap_site
from tests.integration.test_eap_resumption import FULL, RESUMED, _lines, _member, _station
from tests.integration.udp_client import send

pytestmark = pytest.mark.tools

AFFINITY = "radius_server_affinity_datagrams_total"
DEVICES = 3


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    """Two workers on SQLite, each with its socket bound before the first request."""
    work = tmp_path_factory.mktemp("eap-affinity")
    with _eap_site(f"sqlite:///{work / 'radius.db'}", work, "--workers", "2") as site:
        # The kernel spreads NAS addresses over the sockets bound so far: a socket that
        # joins mid-conversation would move a NAS to a worker that never saw its State.
        site.server.wait_for_all("server_started", 2)
        yield site


def _affinity(port: int) -> dict[str, float | None]:
    """The affinity counters, summed over the workers (None: not exposed)."""
    samples = scrape(port)
    return {
        result: value(samples, AFFINITY, result=result)
        for result in ("forwarded", "received", "local", "dropped")
    }


@pytest.mark.parametrize("method", ["peap-mschapv2", "ttls-pap"])
def test_a_roaming_device_resumes_on_the_worker_owning_it(two: Eap, method: str) -> None:
    metrics_port = int(two.server.wait_for("metrics_started")["port"])
    with holding_proxy(("127.0.0.1", two.server.auth_port), hold=False, roam=True) as relay:
        for _ in range(DEVICES):
            email, pin = _member(two, workers=2)
            station = _station()
            result = two.run(
                method,
                True,
                email,
                pin,
                reauth=3,
                extra=(f"-M{station}",),
                port=relay.port,
                timeout=60,
            )
            assert result.returncode == 0, result.stdout[-3000:]
            assert result.stdout.count(FULL) == 1
            assert result.stdout.count(RESUMED) == 3
            lines = _lines(two, station, 4)
            assert ["resumed=true" in e["detail"] for e in lines] == [False, True, True, True]
            # One worker answered the device (request ids carry the worker's prefix).
            assert len({e["request_id"].split("-")[0] for e in lines}) == 1
        # A new NAS port for every conversation (the relay really roamed).
        assert len(set(relay.source_ports)) >= 4 * DEVICES
    counts = _affinity(metrics_port)
    # 12 conversations from random ports: the kernel sent some to the other worker.
    assert (counts["forwarded"] or 0) > 0
    assert counts["received"] == counts["forwarded"]
    assert counts["local"] == counts["dropped"] == 0


def test_pap_is_never_forwarded(two: Eap) -> None:
    metrics_port = int(two.server.wait_for("metrics_started")["port"])
    email, pin = _member(two, workers=2)
    before = _affinity(metrics_port)
    assert None not in before.values()
    mark = two.server.mark()
    sent = 16
    for n in range(sent):
        # A new source port each (the kernel spreads them), and stations owned by both
        # workers. (Accepted up to the device limit, rejected past it: answered either way.)
        station = f"02-00-00-00-01-{n:02x}".encode()
        request = encode_request(
            SECRET.encode(),
            identifier=n,
            user_name=email,
            password=pin.encode(),
            attributes=[(c.CALLING_STATION_ID, station)],
        )
        assert send(two.server.auth_port, request.packet) is not None
    lines = two.server.find("access", at_least=sent, since=mark, user=email, timeout=10)
    assert len(lines) == sent
    assert len({line["request_id"].split("-")[0] for line in lines}) == 2
    assert _affinity(metrics_port) == before
