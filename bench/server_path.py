"""CPU per PAP request on the server's hot path, in process: this checkout against another.

    .venv/bin/python bench/server_path.py [--requests 20000] [--rounds 5] [--baseline-src DIR]
    .venv/bin/python bench/server_path.py --valgrind [--baseline-src DIR]

What ``serve`` does per Access-Request, without the sockets: ``Engine.handle_auth``
over the realistic mix of ``run.py`` (the load generator's own packets: PAP,
Message-Authenticator, the NAS and station attributes an access point sends, 10% of
requests with the member's previous PIN), guessing protection on with the shipped
defaults (in memory: the database sharing runs in a worker thread), the devices-online
view, the recent-decisions queue, and the one JSON log line per request exactly as
``serve`` configures it (``configure_logging(..., buffered=True)``, to ``/dev/null``,
flushed every 64 requests as the server's flusher would under load).

Each checkout runs in a child process with its own ``PYTHONPATH``, after an unmeasured
warm-up round (members' devices known, as in ``run.py``'s steady state); the rounds alternate
between them (the machine is shared: alternating spreads the noise over both), and the
best round counts. ``--valgrind`` counts instructions instead (load-independent): the
child runs twice under callgrind, building and handling N requests, then only building
them (after the same warm-up); the difference over N is the cost per request. ``--profile``
samples each checkout with py-spy and prints where ``handle_auth``'s time goes, grouped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
CHECKOUT = HERE.parent.parent
SECRET = b"bench-shared-secret-0123456789"
NAS = "127.0.0.1"
MEMBERS = 10_000


def _engine() -> tuple[object, list[object]]:
    """The server's engine over MEMBERS members, and their credentials (in the child)."""
    from ipaddress import ip_network

    sys.path.insert(0, str(HERE.parent))
    from loadgen import Credential

    from radius_server import logging
    from radius_server.logging import configure_logging, get_logger
    from radius_server.rules.directory import Client, Directory, Member
    from radius_server.rules.online import OnlineDevices
    from radius_server.rules.throttle import ThrottleSettings
    from radius_server.runtime.engine import Engine
    from radius_server.runtime.guard import Guard

    stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the child
    configure_logging("json", "info", stream=stream, buffered=True)
    log = get_logger()
    directory = Directory()
    directory.ready = True
    directory.clients.put(Client(1, "bench", ip_network(NAS), SECRET, True))
    now = time.time()
    credentials = []
    for i in range(MEMBERS):
        pin, stale = f"{(i * 7919) % 90000 + 10000:05d}", f"{(i * 104729) % 90000 + 10000:05d}"
        if stale == pin:
            stale = f"{(int(pin) + 1) % 90000 + 10000:05d}"
        email = f"member{i:05d}@bench.test"
        credentials.append(Credential(email, pin, stale=stale))
        directory.members.put(
            Member(
                i,
                email,
                pin.encode(),
                True,
                True,
                None,
                None,
                now - 3600,
                previous_pin=stale.encode(),
            )
        )
    decisions: list[object] = []
    # As runtime/server.py builds it; a checkout from before the line's fast path
    # (logging.json_lines) logs through structlog only.
    extra = {"lines": logging.json_lines()} if hasattr(logging, "json_lines") else {}
    engine = Engine(
        directory,
        log,
        guard=Guard(ThrottleSettings(), log, store=None),
        online=OnlineDevices(),
        record_decision=decisions.append,
        **extra,
    )
    return engine, credentials  # type: ignore[return-value]


def _packets(credentials: list[object], count: int) -> list[bytes]:
    from loadgen import build_request, plan_requests

    planned = plan_requests(credentials, wrong_ratio=0.1, size=count)  # type: ignore[arg-type]
    return [build_request(p, i % 256, os.urandom(16), SECRET) for i, p in enumerate(planned)]


def child(count: int, rounds: int, handle: bool) -> None:
    """In the child: print the best microseconds per request over ``rounds`` (CPU time)."""
    from radius_server.logging import flush_logs

    engine, credentials = _engine()
    handle_auth = engine.handle_auth  # type: ignore[attr-defined]

    def run(packets: list[bytes]) -> float:
        started = time.process_time()
        for port, packet in enumerate(packets):
            if handle_auth(packet, (NAS, 1024 + port % 60000)) is None:
                raise SystemExit("a request got no answer")
            if port & 63 == 63:
                flush_logs()
        flush_logs()
        return (time.process_time() - started) / len(packets) * 1e6

    # A warm-up round, not measured: as in run.py, members' devices are known by then
    # (a device's first success is an event; the steady state has few).
    run(_packets(credentials, count))
    best = float("inf")
    for _ in range(rounds):
        packets = _packets(credentials, count)
        if handle:
            best = min(best, run(packets))
    print(f"{best:.3f}")


def run_child(source: Path, count: int, rounds: int, valgrind: bool, handle: bool = True) -> float:
    """One child run: microseconds per request, or instructions executed under valgrind."""
    argv = [sys.executable, str(HERE), "--child", str(source), str(count), str(rounds)]
    argv.append("handle" if handle else "build")
    env = {**os.environ, "PYTHONPATH": f"{source}:{CHECKOUT / 'bench'}"}
    if valgrind:
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed ({source}):\n{done.stderr[-2000:]}")
    if valgrind:
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"valgrind printed no count:\n{done.stderr[-2000:]}")
        return float(found.group(1))
    return float(done.stdout.split()[-1])


# Where a sample goes: the first of these functions found walking its stack from the
# leaf up (so the log line's JSON encoding counts as the log line, not as the engine).
GROUPS = (
    ("RequestStats.observe", "metrics hook (RequestStats.observe)"),
    ("Engine._log", "log line (Engine._log: fields, JSON, timestamp, buffer)"),
    ("flush_logs", "log line (Engine._log: fields, JSON, timestamp, buffer)"),
    ("decode_request", "decoding (decode_request)"),
    ("Engine._verify", "authenticity (Message-Authenticator check)"),
    ("decrypt_pin", "PAP decryption (decrypt_pin)"),
    ("Throttle.", "guessing protection (gate, succeeded/failed, events)"),
    ("Guard.", "guessing protection (gate, succeeded/failed, events)"),
    ("OnlineDevices.", "devices online (stations, accepted)"),
    ("judge", "judge (rules, Class, Decision)"),
    ("_Verify.__call__", "judge (rules, Class, Decision)"),
    ("Engine._encode", "encoding and signing the reply"),
    ("encode_reply", "encoding and signing the reply"),  # called from _handle since round 2
    ("ReplyCache.", "reply cache (claim, store)"),
    ("Engine.", "the rest of the pipeline (client, context, method, fit)"),
    ("PapMethod.", "the rest of the pipeline (client, context, method, fit)"),
)


def profile(source: Path, count: int) -> dict[str, float]:
    """py-spy over the child handling ``count`` requests 4 times; share of samples per group."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise SystemExit("py-spy is not installed (.venv/bin/pip install py-spy)")
    raw = Path(f"/tmp/server_path.{os.getpid()}.py-spy.txt")
    argv = [sys.executable, str(HERE), "--child", str(source), str(count), "4", "handle"]
    env = {**os.environ, "PYTHONPATH": f"{source}:{CHECKOUT / 'bench'}"}
    subprocess.run(
        [py_spy, "record", "--rate", "500", "--format", "raw", "-o", str(raw), "--", *argv],
        env=env,
        capture_output=True,
        check=True,
    )
    shares: dict[str, float] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if "handle_auth" not in stack and "flush_logs" not in stack:
            continue  # set-up and the packets' construction
        frames = stack.split(";")
        total += int(number)
        for frame in reversed(frames):
            group = next((g for name, g in GROUPS if frame.startswith(name)), None)
            if group is not None:
                shares[group] = shares.get(group, 0) + int(number)
                break
    raw.unlink()
    return {group: 100 * n / total for group, n in shares.items()}


def main() -> int:
    """Measure each checkout; print microseconds (or instructions) per request and the ratio."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "handle")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per checkout (5)")
    parser.add_argument("--baseline-src", metavar="DIR", help="another checkout, e.g. main's")
    parser.add_argument("--valgrind", action="store_true", help="count instructions instead")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy: where each checkout's time goes, grouped"
    )
    args = parser.parse_args()
    sources = [("this checkout", CHECKOUT)]
    if args.baseline_src:
        sources.insert(0, ("baseline", Path(args.baseline_src).resolve()))
    results: dict[str, float] = {}
    if args.profile:
        tables = {label: profile(source, args.requests) for label, source in sources}
        groups = sorted(
            {g for t in tables.values() for g in t}, key=lambda g: -tables[sources[-1][0]].get(g, 0)
        )
        print("share of samples in handle_auth (py-spy) | " + " | ".join(tables))
        for group in groups:
            print(f"{group} | " + " | ".join(f"{t.get(group, 0):.1f}%" for t in tables.values()))
        return 0
    if args.valgrind:
        if shutil.which("valgrind") is None:
            raise SystemExit("valgrind is not installed (apt-get install valgrind)")
        count = min(args.requests, 4000)
        for label, source in sources:
            both = run_child(source, count, 1, True)
            built = run_child(source, count, 1, True, handle=False)
            results[label] = (both - built) / count
            print(f"{label}: {results[label]:,.0f} instructions per request ({source})")
    else:
        best = {label: float("inf") for label, _ in sources}
        for round_ in range(args.rounds):
            order = sources if round_ % 2 == 0 else sources[::-1]
            for label, source in order:
                took = run_child(source, args.requests, 1, False)
                best[label] = min(best[label], took)
        for label, source in sources:
            results[label] = best[label]
            print(
                f"{label}: {best[label]:.2f} us CPU per request, best of {args.rounds} ({source})"
            )
    if len(results) == 2:
        before, after = results["baseline"], results["this checkout"]
        print(f"this checkout / baseline: {after / before:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
