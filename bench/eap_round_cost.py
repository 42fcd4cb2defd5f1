"""EAP server CPU per sign-in, in process: full and resumed PEAP/TTLS via ``Engine.handle_auth``.

Usage::

    PYTHONPATH=. .venv/bin/python bench/eap_round_cost.py [--count 200] [--runs 3]
                                                          [--key-type rsa|ecdsa] [--tls 1.2|1.3]
                                                          [--profile FILE] [--json]
                                                          [--certs DIR] [--instructions N]
                                                          [--server-max 1.2|1.3] [--src DIR]

The supplicant is the test peer of ``tests/unit/eap_peer.py`` (pyOpenSSL over memory,
1398-octet fragments, Framed-MTU 1400 as eapol_test sends); only the server's calls are
timed (``time.thread_time`` around each ``Engine.handle_auth``, so the peer's TLS work and
the machine's other processes do not count). The engine logs JSON lines at info level to
/dev/null (as ``serve`` does), with fast reconnect on (``tls_session_lifetime`` 3600).
Full: each sign-in a fresh client context; resumed: each sign-in offers the session of
one earlier full sign-in (TLS 1.2 session id, as wpa_supplicant does; TLS 1.3 a ticket).
``--server-max 1.3`` gives the server ``serve``'s default ``tls_max_version`` (by default
it is ``--tls``); ``--src DIR`` imports another checkout's ``radius_server`` (``git archive
REV radius_server | tar -x -C DIR``) for a before/after with this script and peer.

Prints, per method: server CPU per sign-in (best of ``--runs``), rounds, CPU per round,
and full/resumed (the issue's target is resumed >= 3x full: full/resumed >= 3).

``--instructions N`` counts instead of timing: this script runs twice under ``valgrind
--tool=callgrind`` (``PYTHONHASHSEED=0``), N full and N resumed sign-ins of each method
and then none (the set-up and one warm-up sign-in per method only), and prints the
difference per full + resumed pair (peer included: the in-process peer's TLS work is
part of it). Give ``--certs DIR`` so both runs, and runs of two trees, use one fixed
certificate (made there on first use).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "--src" in sys.argv:
    # Another checkout's radius_server (git archive REV radius_server | tar -x -C DIR),
    # measured with this script and its test peer: before/after on equal terms.
    sys.path.insert(0, sys.argv[sys.argv.index("--src") + 1])

from radius_server.eap.certificates import generate  # noqa: E402
from radius_server.eap.codec import EapType, decode_eap  # noqa: E402
from radius_server.eap.handler import EapHandler, EapOptions  # noqa: E402
from radius_server.eap.resumption import FastReconnect, ResumptionTable  # noqa: E402
from radius_server.eap.tls import TlsServer  # noqa: E402
from radius_server.logging import configure_logging, get_logger, json_lines  # noqa: E402
from radius_server.protocol import codes as c  # noqa: E402
from radius_server.protocol.packet import decode_request  # noqa: E402
from tests.unit import eap_support  # noqa: E402
from tests.unit.eap_peer import Peer, eap_attributes  # noqa: E402

METHODS = {"peap": (EapType.PEAP, "mschapv2"), "ttls": (EapType.TTLS, "pap")}
SOURCE = ("127.0.0.1", 40000)


def make_engine(certs, key_tls: str, server_max: str | None = None):  # type: ignore[no-untyped-def]
    """An engine as ``serve`` wires EAP: JSON log at info to /dev/null, fast reconnect on.

    ``server_max``: the server's highest TLS version (``tls_max_version``; default
    ``key_tls``, the version the peer speaks). ``serve`` defaults to 1.3, which a
    TLS 1.2 peer still meets with TLS 1.2, but the server then keeps its TLS 1.3 hooks.
    """
    configure_logging("json", "info", open(os.devnull, "w"), buffered=True)  # noqa: SIM115
    tls = TlsServer(
        certs.server_cert,
        certs.server_key,
        certs.ca_cert,
        "1.2",
        server_max or key_tls,
        session_lifetime=3600,
    )
    handler = EapHandler(tls, EapOptions())
    engine, _ = eap_support.make_engine({"eap": handler})
    engine.log = get_logger()
    # The access line's fast path, as serve wires it (runtime/server.py): without it each
    # round's line would take structlog's slower path, which serve never does.
    engine.lines = json_lines()
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
    count = max(count, 1)  # none (--instructions' empty run): zeros
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
    parser.add_argument(
        "--server-max",
        choices=("1.2", "1.3"),
        help="the server's tls_max_version (default: --tls; serve's default is 1.3)",
    )
    parser.add_argument("--profile", help="cProfile (thread CPU) of the runs to this file")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--certs", type=Path, help="a fixed certificate here (made if absent)")
    parser.add_argument(
        "--instructions", type=int, metavar="N", help="count instructions (valgrind) instead"
    )
    parser.add_argument("--src", help="import radius_server from this directory instead")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions is not None:
        return _instructions(args)
    work = Path(tempfile.mkdtemp(prefix="eap-round-cost-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _certificates(args: argparse.Namespace, work: Path):  # type: ignore[no-untyped-def]
    """The certificate of ``--certs`` (made there once), else a fresh one in ``work``."""
    where = args.certs or work
    if args.certs is not None and (where / "server.pem").exists():
        from radius_server.eap.certificates import GeneratedFiles

        return GeneratedFiles(
            where,
            where / "ca.pem",
            where / "ca.der",
            where / "ca.key",
            where / "server.pem",
            where / "server.key",
        )
    where.mkdir(parents=True, exist_ok=True)
    return generate(
        where, "radius.bench.lan", "Bench", dt.datetime.now(dt.UTC), key_type=args.key_type
    )


def _instructions(args: argparse.Namespace) -> int:
    """Instructions per full + resumed pair: N of each less none, under callgrind."""
    if args.certs is None:
        raise SystemExit("--instructions needs --certs DIR (one certificate for every run)")
    _certificates(args, args.certs)  # made once, outside valgrind
    runs = {}
    for count in (args.instructions, 0):  # both at once: instruction counts do not mind
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(count),
            "--certs",
            str(args.certs),
            "--key-type",
            args.key_type,
            "--tls",
            args.tls,
            "--methods",
            args.methods,
            *(("--src", args.src) if args.src else ()),
            *(("--server-max", args.server_max) if args.server_max else ()),
        ]
        runs[count] = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    counted = {}
    for count, run in runs.items():
        _, stderr = run.communicate()
        found = re.search(r"Collected : (\d+)", stderr)
        if run.returncode != 0 or found is None:
            raise RuntimeError(f"valgrind run failed: {stderr[-2000:]}")
        counted[count] = int(found.group(1))
    pairs = args.instructions * len(args.methods.split(","))
    per_pair = (counted[args.instructions] - counted[0]) / pairs
    print(
        f"{args.methods}: {counted[args.instructions]:,} - {counted[0]:,} instructions, "
        f"{per_pair / 1e6:.3f} M per full + resumed pair ({args.instructions} of each per method)"
    )
    return 0


def _run(args: argparse.Namespace, work: Path) -> int:
    certs = _certificates(args, work)
    if args.child is not None:
        # Under valgrind (--instructions): the work only, nothing timed or printed.
        engine = make_engine(certs, args.tls, args.server_max)
        for method in args.methods.split(","):
            measure(engine, method, args.tls == "1.3", certs.ca_cert, args.child)
        return 0
    engine = make_engine(certs, args.tls, args.server_max)
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
        f"in process, TLS {args.tls} (server max {args.server_max or args.tls}), "
        f"{args.key_type}, best of {args.runs} x {args.count} "
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
