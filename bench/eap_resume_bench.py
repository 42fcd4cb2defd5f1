"""Fast reconnect benchmark: server CPU per full vs resumed PEAP/TTLS authentication.

Usage::

    .venv/bin/python bench/eap_resume_bench.py [--reauth 100] [--repeat 2] [--json]

Our server (``radius-server serve``, one process) twice: with ``tls_session_lifetime = 0``
(every authentication a full handshake) and with fast reconnect on (3600). For PEAP/MSCHAPv2
and TTLS/PAP over TLS 1.2 and TLS 1.3, one ``eapol_test -r N`` per repeat (one sign-in, then
N reconnects keeping the TLS session, one after the other): the server's CPU milliseconds
per authentication, from /proc (user + system) less the idle rate measured before (the
change-feed polling), and authentications per second of that one client (eapol_test waits
~0.1 s between reconnects, so that figure is the client's pace). With fast reconnect on,
the first sign-in's cost (the full figure) is taken out, so the number is per resumed
authentication. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eap_bench import EAPOL_TEST, PIN, SECRET, USER, Server, idle_rates, start_ours

CASES = [("peap", "1.2"), ("peap", "1.3"), ("ttls", "1.2"), ("ttls", "1.3")]


def _conf(work: Path, method: str, tls: str, ca_file: Path) -> Path:
    eap, phase2 = ("PEAP", "auth=MSCHAPV2") if method == "peap" else ("TTLS", "auth=PAP")
    path = work / f"resume-{method}-{tls}.conf"
    path.write_text(
        "network={\n key_mgmt=WPA-EAP\n"
        f' eap={eap}\n identity="{USER}"\n anonymous_identity="anonymous"\n'
        f' password="{PIN}"\n ca_cert="{ca_file}"\n phase2="{phase2}"\n'
        f' phase1="tls_disable_tlsv1_3={0 if tls == "1.3" else 1}"\n}}\n'
    )
    return path


def run(server: Server, work: Path, method: str, tls: str, reauth: int, idle: float = 0.0) -> dict:
    """One eapol_test -r ``reauth``: CPU (less the idle rate) and wall time, resumed count."""
    conf = _conf(work, method, tls, server.ca_file)
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    result = subprocess.run(
        [
            *(EAPOL_TEST, "-c", str(conf), "-a", "127.0.0.1", "-p", str(server.port)),
            *("-s", SECRET, "-r", str(reauth), "-t", "120"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    used = server.cpu_seconds() - cpu - idle * wall
    auths = reauth + 1
    ok = f"MPPE keys OK: {auths}  mismatch: 0" in result.stdout
    return {
        "ok": ok and result.returncode == 0,
        "cpu_s": used,
        "wall_s": wall,
        "resumed": result.stdout.count("Handshake finished - resumed=1"),
        "auths": auths,
    }


def measure(lifetime: int, reauth: int, repeat: int) -> dict[tuple[str, str], list[dict]]:
    """Every case, ``repeat`` times, on a server with ``tls_session_lifetime = lifetime``."""
    os.environ["RADIUS_TLS_SESSION_LIFETIME"] = str(lifetime)
    work = Path(tempfile.mkdtemp(prefix=f"eap-resume-{lifetime}-"))
    server = start_ours(work)
    try:
        time.sleep(2.0)  # start-up settles
        idle = idle_rates([server], 5.0)[0]
        print(f"lifetime {lifetime}: idle CPU {idle * 1000:.1f} ms/s (taken out)", file=sys.stderr)
        return {
            case: [run(server, work, *case, reauth, idle) for _ in range(repeat)] for case in CASES
        }
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reauth", type=int, default=100, help="reconnects per eapol_test")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    full = measure(0, args.reauth, args.repeat)
    fast = measure(3600, args.reauth, args.repeat)
    rows = []
    for case in CASES:
        full_ms = min(r["cpu_s"] / r["auths"] for r in full[case]) * 1000
        # One full sign-in, then the resumed ones: take the full one's cost out.
        resumed_ms = (
            min((r["cpu_s"] - full_ms / 1000) / (r["auths"] - 1) for r in fast[case]) * 1000
        )
        rows.append(
            {
                "method": case[0],
                "tls": case[1],
                "full_cpu_ms": round(full_ms, 3),
                "resumed_cpu_ms": round(resumed_ms, 3),
                "cpu_ratio": round(full_ms / resumed_ms, 2) if resumed_ms > 0 else None,
                "full_auth_per_s": round(max(r["auths"] / r["wall_s"] for r in full[case]), 1),
                "resumed_auth_per_s": round(max(r["auths"] / r["wall_s"] for r in fast[case]), 1),
                "resumed_seen": min(r["resumed"] for r in fast[case]),
                "resumed_in_full_mode": max(r["resumed"] for r in full[case]),
                "all_ok": all(r["ok"] for r in full[case] + fast[case]),
            }
        )
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": rows, "loadavg": load, "reauth": args.reauth}, indent=2))
        return 0
    print(f"eapol_test -r {args.reauth}, {args.repeat} repeats (best), load average {load}")
    print(
        f"{'method':6} {'tls':4} {'full ms':>8} {'resumed ms':>10} {'ratio':>6} "
        f"{'full/s':>7} {'resumed/s':>9} {'resumed':>8} ok"
    )
    for r in rows:
        print(
            f"{r['method']:6} {r['tls']:4} {r['full_cpu_ms']:8.3f} {r['resumed_cpu_ms']:10.3f} "
            f"{r['cpu_ratio'] or 0:6.2f} {r['full_auth_per_s']:7.1f} "
            f"{r['resumed_auth_per_s']:9.1f} {r['resumed_seen']:8} {r['all_ok']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
