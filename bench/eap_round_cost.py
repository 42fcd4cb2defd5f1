"""EAP server CPU per sign-in, in process: full and resumed PEAP/TTLS via ``Engine.handle_auth``.

Usage::

    PYTHONPATH=. .venv/bin/python bench/eap_round_cost.py [--count 200] [--runs 3]
                                                          [--key-type rsa|ecdsa] [--tls 1.2|1.3]
                                                          [--profile FILE] [--json]

The supplicant is the test peer of ``tests/unit/eap_peer.py`` (pyOpenSSL over memory,
1398-octet fragments, Framed-MTU 1400 as eapol_test sends); only the server's calls are
timed (``time.thread_time`` around each ``Engine.handle_auth``, so the peer's TLS work and
the machine's other processes do not count). The engine logs JSON lines at info level to
/dev/null (as ``serve`` does), with fast reconnect on (``tls_session_lifetime`` 3600).
Full: each sign-in a fresh client context; resumed: each sign-in offers the session of
one earlier full sign-in (TLS 1.2 session id, as wpa_supplicant does; TLS 1.3 a ticket).

Prints, per method: server CPU per sign-in (best of ``--runs``), rounds, CPU per round,
and full/resumed (the issue's target is resumed >= 3x full: full/resumed >= 3).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from radius_server.eap.certificates import generate  # noqa: E402
from radius_server.eap.codec import EapType, decode_eap  # noqa: E402
from radius_server.eap.handler import EapHandler, EapOptions  # noqa: E402
from radius_server.eap.resumption import FastReconnect, ResumptionTable  # noqa: E402
from radius_server.eap.tls import TlsServer  # noqa: E402
from radius_server.logging import configure_logging, get_logger  # noqa: E402
from radius_server.protocol import codes as c  # noqa: E402
from radius_server.protocol.packet import decode_request  # noqa: E402
from tests.unit import eap_support  # noqa: E402
from tests.unit.eap_peer import Peer, eap_attributes  # noqa: E402

METHODS = {"peap": (EapType.PEAP, "mschapv2"), "ttls": (EapType.TTLS, "pap")}
SOURCE = ("127.0.0.1", 40000)


def make_engine(certs, key_tls: str):  # type: ignore[no-untyped-def]
    """An engine as ``serve`` wires EAP: JSON log at info to /dev/null, fast reconnect on."""
    configure_logging("json", "info", open(os.devnull, "w"), buffered=True)  # noqa: SIM115
    tls = TlsServer(
        certs.server_cert, certs.server_key, certs.ca_cert, "1.2", key_tls, session_lifetime=3600
    )
    handler = EapHandler(tls, EapOptions())
    engine, _ = eap_support.make_engine({"eap": handler})
    engine.log = get_logger()
    handler.log = engine.log
    handler.reconnect = FastReconnect(
        ResumptionTable(10000, 3600.0), lambda: engine.directory.members
    )
    return engine


def sign_in(engine, peer: Peer) -> tuple[float, int, bool]:  # type: ignore[no-untyped-def]
    """One conversation; (server CPU seconds, rounds, accepted)."""
    eap = peer.identity_response()
    state = None
    cpu = 0.0
    for rounds in range(1, 80):
        packet, _ = eap_support.access_request(
            eap_attributes(eap, state, peer.anonymous, peer.station, (), 1400)
        )
        started = time.thread_time()
        answer = engine.handle_auth(packet, SOURCE)
        cpu += time.thread_time() - started
        assert answer is not None, "dropped"
        reply = decode_request(answer[0])
        if reply.code != c.Code.ACCESS_CHALLENGE:
            return cpu, rounds, reply.code == c.Code.ACCESS_ACCEPT
        state = reply.state
        assert reply.eap_message is not None
        eap = peer.answer(decode_eap(reply.eap_message))
    raise AssertionError("conversation did not end")


def _peer(method: str, tls13: bool, ca: Path, first: Peer | None) -> Peer:
    eap_type, inner = METHODS[method]
    peer = Peer(eap_type, inner=inner, tls13=tls13, fragment=1398, ca_file=ca)
    if first is not None and first.conn is not None:
        peer.client_context = first.conn.get_context()
        peer.session = first.conn.get_session()
    else:
        peer.client_context = peer._context()
    return peer


def measure(engine, method: str, tls13: bool, ca: Path, count: int) -> dict:  # type: ignore[no-untyped-def]
    """``count`` full sign-ins, then ``count`` resumed ones (of one earlier session)."""
    full_cpu = resumed_cpu = 0.0
    full_rounds = resumed_rounds = 0
    # Warm up: the first sign-in of a station also learns its method (handler.MethodMemory).
    first = _peer(method, tls13, ca, None)
    assert sign_in(engine, first)[2]
    for _ in range(count):
        cpu, rounds, ok = sign_in(engine, _peer(method, tls13, ca, None))
        assert ok
        full_cpu += cpu
        full_rounds += rounds
    # Every peer kept: OpenSSL marks a client session not resumable when a connection
    # using it is freed without a close_notify (a supplicant keeps its connection).
    kept = [first]
    for _ in range(count):
        peer = _peer(method, tls13, ca, first)
        cpu, rounds, ok = sign_in(engine, peer)
        assert ok
        kept.append(peer)
        resumed_cpu += cpu
        resumed_rounds += rounds
    return {
        "full_ms": full_cpu * 1000 / count,
        "full_rounds": full_rounds / count,
        "resumed_ms": resumed_cpu * 1000 / count,
        "resumed_rounds": resumed_rounds / count,
    }


def main() -> int:
    """Run it; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200, help="sign-ins per phase and run")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    parser.add_argument("--key-type", choices=("rsa", "ecdsa"), default="rsa")
    parser.add_argument("--tls", choices=("1.2", "1.3"), default="1.2")
    parser.add_argument("--methods", default="peap,ttls")
    parser.add_argument("--profile", help="cProfile (thread CPU) of the runs to this file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eap-round-cost-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    certs = generate(
        work, "radius.bench.lan", "Bench", dt.datetime.now(dt.UTC), key_type=args.key_type
    )
    engine = make_engine(certs, args.tls)
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    rows = {}
    for method in args.methods.split(","):
        runs = []
        for _ in range(args.runs):
            if profiler:
                profiler.enable()
            runs.append(measure(engine, method, args.tls == "1.3", certs.ca_cert, args.count))
            if profiler:
                profiler.disable()
        best = {key: min(r[key] for r in runs) for key in runs[0]}
        best["full_per_resumed"] = best["full_ms"] / best["resumed_ms"]
        rows[method] = best
    if profiler:
        profiler.dump_stats(args.profile)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"in process, TLS {args.tls}, {args.key_type}, best of {args.runs} x {args.count} "
        f"sign-ins, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'method':6} {'full ms':>8} {'rounds':>6} {'resumed ms':>10} {'rounds':>6} "
        f"{'ms/round f':>10} {'ms/round r':>10} {'full/resumed':>12}"
    )
    for method, r in rows.items():
        print(
            f"{method:6} {r['full_ms']:8.3f} {r['full_rounds']:6.1f} {r['resumed_ms']:10.3f} "
            f"{r['resumed_rounds']:6.1f} {r['full_ms'] / r['full_rounds']:10.3f} "
            f"{r['resumed_ms'] / r['resumed_rounds']:10.3f} {r['full_per_resumed']:11.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
