"""What EAP device affinity across ``--workers`` costs (runtime/affinity.py).

1. The routing check on every Access-Request a worker reads: ``AffinityRouter.wrap``'s
   handler around a handler that does nothing, against that handler alone, on the PAP
   requests of ``bench/run.py``'s mix (station attributes, Message-Authenticator) and on
   an EAP request the worker owns (handled here: the check plus the attribute walk).
   CPU nanoseconds per request (``time.process_time``), best of the rounds.
2. A forwarded EAP request's round trip: a NAS socket (this process) and two workers
   (child processes, each its own event loop, UDP socket and peer socket; the engine's
   stand-in answers the request's header), the request owned by worker 1: sent to
   worker 0, which forwards it, against sent to worker 1 directly. Median microseconds
   per round trip, and the CPU of both workers per request.

    .venv/bin/python bench/affinity_cost.py [requests] [rounds]
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from loadgen import station_attributes

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_access_request, encode_request
from radius_server.runtime.affinity import AffinityRouter, WorkerPeers, owner, station_key

SECRET = b"bench-secret-0123456789"


class _Quiet:
    def _drop(self, *_args: object, **_fields: object) -> None:
        pass

    info = warning = debug = error = _drop


def _pap_packets(count: int) -> list[bytes]:
    packets = []
    for n in range(count):
        email = f"member{n}@example.org"
        packets.append(
            encode_request(
                SECRET,
                identifier=n % 256,
                user_name=email,
                password=b"12345",
                attributes=station_attributes(email),
            ).packet
        )
    return packets


def _station_of(index: int, workers: int = 2) -> bytes:
    for n in range(256):
        station = b"02-00-00-00-00-%02X" % n
        if owner(station_key(station), workers) == index:
            return station
    raise AssertionError


def _eap_packet(station: bytes, size: int = 1000) -> bytes:
    # An EAP-Response carrying a TLS fragment, as in the handshake's middle rounds.
    eap = bytes((2, 7, (size + 6) >> 8, (size + 6) & 255, 25, 0)) + os.urandom(size)
    attributes = [(c.USER_NAME, b"anonymous"), (c.CALLING_STATION_ID, station)]
    attributes += [(c.EAP_MESSAGE, eap[i : i + 253]) for i in range(0, len(eap), 253)]
    return encode_access_request(SECRET, identifier=7, attributes=attributes).packet


def check_costs(number: int, rounds: int) -> dict[str, float]:
    """CPU nanoseconds per request: the handler alone and wrapped, PAP and owned EAP."""
    with tempfile.TemporaryDirectory() as directory:
        router = AffinityRouter(WorkerPeers(0, 2, Path(directory)), _Quiet())

        def inner(_data: bytes, _source: tuple[str, int]) -> None:
            return None

        route = router.wrap(inner)
        pap = _pap_packets(1000)
        eap = _eap_packet(_station_of(0))
        source = ("10.0.0.1", 1812)
        walked = sum(1 for p in pap if p.find(b"\x4f", 20) >= 0)

        def cpu(statement: object) -> float:
            best = float("inf")
            for _ in range(rounds):
                started = time.process_time()
                timeit.timeit(statement, number=number)  # type: ignore[arg-type]
                best = min(best, time.process_time() - started)
            return best / number * 1e9

        packets = iter(pap * (number * rounds * 2 // len(pap) + 2))
        return {
            "pap_plain": cpu(lambda: inner(next(packets), source)),
            "pap_routed": cpu(lambda: route(next(packets), source)),
            "eap_plain": cpu(lambda: inner(eap, source)),
            "eap_routed_owned": cpu(lambda: route(eap, source)),
            "pap_walked_share": walked / len(pap),
        }


# -- the round trip ------------------------------------------------------------------------


def _worker_child(index: int, directory: str, ready_fd: int) -> None:
    """One worker: its UDP socket (NAS requests, routed) and its peer socket; answers from UDP."""

    async def run() -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        router = AffinityRouter(WorkerPeers(index, 2, Path(directory)), _Quiet())
        # The engine's stand-in: the reply is the request's header.
        route = router.wrap(lambda data, source: (data[:20], 0.0))

        def dispatch(data: bytes, source: tuple[str, int]) -> None:
            result = route(data, source)
            if result is not None:
                udp.sendto(result[0], source)

        router.start(dispatch)
        stop = asyncio.Event()

        def read() -> None:
            while True:
                try:
                    data, source = udp.recvfrom(65535)
                except BlockingIOError:
                    return
                if data == b"stop":
                    stop.set()
                    return
                dispatch(data, source)

        asyncio.get_running_loop().add_reader(udp.fileno(), read)
        started = time.process_time()
        os.write(ready_fd, f"{udp.getsockname()[1]}\n".encode())
        await stop.wait()
        os.write(
            ready_fd, f"{time.process_time() - started} {router.stats['forwarded']}\n".encode()
        )
        router.close()

    asyncio.run(run())


def round_trips(requests: int) -> dict[str, dict[str, float]]:
    """Median round trip (µs) and CPU per request (µs, both workers), by path.

    The request is owned by worker 1: ``direct`` sends it to worker 1's socket (the
    kernel picked the owner), ``forwarded`` to worker 0's, which hands it over.
    """
    found: dict[str, dict[str, float]] = {}
    packet = _eap_packet(_station_of(1))
    for mode in ("direct", "forwarded"):
        with tempfile.TemporaryDirectory() as directory:
            workers = []
            for index in range(2):
                read_fd, write_fd = os.pipe()
                child = subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(index), directory, str(write_fd)],
                    pass_fds=(write_fd,),
                )
                os.close(write_fd)
                pipe = os.fdopen(read_fd)
                workers.append((child, pipe, int(pipe.readline())))
            target = workers[0 if mode == "forwarded" else 1][2]
            nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            nas.bind(("127.0.0.1", 0))
            nas.settimeout(5)
            times = []
            for _ in range(requests):
                begun = time.perf_counter()
                nas.sendto(packet, ("127.0.0.1", target))
                nas.recv(4096)
                times.append(time.perf_counter() - begun)
            cpu, forwarded = 0.0, 0
            for child, pipe, port in workers:
                nas.sendto(b"stop", ("127.0.0.1", port))
                seconds, count = pipe.readline().split()
                cpu, forwarded = cpu + float(seconds), forwarded + int(count)
                child.wait()
            nas.close()
            assert forwarded == (requests if mode == "forwarded" else 0)
            found[mode] = {
                "median_us": statistics.median(times) * 1e6,
                "cpu_us": cpu / requests * 1e6,
            }
    return found


def main() -> None:
    """Print both measurements."""
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    costs = check_costs(requests * 20, rounds)
    print("routing check, CPU ns per request (best of rounds):")
    print(f"  PAP  handler alone {costs['pap_plain']:7.0f}  routed {costs['pap_routed']:7.0f}"
          f"  (+{costs['pap_routed'] - costs['pap_plain']:.0f} ns; "
          f"{costs['pap_walked_share']:.0%} needed the attribute walk)")  # fmt: skip
    print(f"  EAP  handler alone {costs['eap_plain']:7.0f}  routed {costs['eap_routed_owned']:7.0f}"
          f"  (+{costs['eap_routed_owned'] - costs['eap_plain']:.0f} ns; owned here)")  # fmt: skip
    trips = round_trips(requests)
    print(f"EAP request round trip ({requests}, 1,000-octet EAP-Message):")
    for mode, numbers in trips.items():
        print(f"  {mode:9}  median {numbers['median_us']:6.1f} µs"
              f"  CPU {numbers['cpu_us']:6.1f} µs per request (both workers)")  # fmt: skip
    extra = trips["forwarded"]["median_us"] - trips["direct"]["median_us"]
    print(f"  forwarding adds {extra:.1f} µs to the round trip, "
          f"{trips['forwarded']['cpu_us'] - trips['direct']['cpu_us']:.1f} µs of CPU")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker_child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        main()
