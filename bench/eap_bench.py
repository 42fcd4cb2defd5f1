"""EAP benchmark: PEAP and TTLS handshakes per second, full and resumed, RSA and ECDSA.

Usage::

    .venv/bin/python bench/eap_bench.py [--parallel 4] [--duration 10] [--reauths 9]
                                        [--key-type rsa|ecdsa|both] [--half-open 1000]
                                        [--slices 4] [--baseline-src DIR] [--no-freeradius]
                                        [--pin-server] [--json]

For our server (``radius-server serve``) and, when installed, FreeRADIUS 3.2
(``/usr/sbin/freeradius`` on a copy of /etc/freeradius/3.0, its TLS session cache
on) in the same run, on the same certificate, for each key type (``certs generate
--key-type``; the CA follows it). Both servers run side by side and take turns:
each phase is cut into ``--slices`` slices, ours then FreeRADIUS then FreeRADIUS
then ours..., so the load of the shared machine falls on both alike (with
``--baseline-src DIR``, a third: another checkout's ``radius_server``, e.g.
``git archive main radius_server | tar -x -C DIR``):

- full PEAP/MSCHAPv2 and TTLS/PAP authentications per second with N parallel
  ``eapol_test`` processes (each a different MAC), TLS 1.2, success with MPPE
  keys required; the server's CPU milliseconds per authentication (the scheduler's
  run time of its threads, ``/proc/PID/task/*/schedstat``: the supplicants share the
  machine, so auth/s is a floor, CPU/auth the cleaner figure); RADIUS round trips per
  authentication; the time the server waited for a core, per request;
- resumed: the same with ``eapol_test -r N`` (one full handshake, then N
  reauthentications that offer the TLS session): auth/s of that mix, the share
  that resumed, and the server CPU per resumed authentication (the mix's CPU less
  its full handshakes at the full phase's cost);
- peak RSS after opening ``--half-open`` PEAP conversations that stop right after
  the ClientHello (the server has built its TLS state and sent its first flight).

``--pin-server``: the servers run on the first CPU, this script and its eapol_test
processes on the others. The supplicants then neither take the servers' core nor evict
their caches between two rounds, so CPU per authentication is the server's own work;
auth/s becomes the supplicants' limit (one core for all of them).

Prints numbers; asserts nothing. ``run.py --eap S`` runs it as a phase.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from OpenSSL import SSL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import process_tree, thread_schedstats, tree_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SECRET = "bench-eap-secret-0123456789"
USER, PIN = "ada@example.org", "24680"
FREERADIUS = "/usr/sbin/freeradius"
EAPOL_TEST = shutil.which("eapol_test") or "/usr/bin/eapol_test"


# -- servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    """A running RADIUS server under test."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    ca_file: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        """CPU of the server so far (with ``--workers``, of every process): the scheduler's
        nanosecond run time of every thread where the kernel has it, else user + system."""
        return tree_schedstat(self.process.pid)[0] or tree_cpu_seconds(self.process.pid)

    def run_queue_seconds(self) -> float:
        """Time the server's threads spent runnable but waiting for a CPU, so far."""
        return tree_schedstat(self.process.pid)[1]

    def rss_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return rss, hwm


def idle_rates(servers: list[Server], seconds: float = 3.0, settle: float = 0.0) -> list[float]:
    """Each server's CPU seconds per second with no traffic (ours on SQLite: the change-feed
    polling), all over one window of ``seconds`` that starts ``settle`` seconds from now.

    One window for all: measured one after the other, the first server's window would hold
    more of the after-work of what came before (a warm-up), taken out of its phases.
    """
    time.sleep(settle)
    before = [server.cpu_seconds() for server in servers]
    time.sleep(seconds)
    return [
        (server.cpu_seconds() - cpu) / seconds for server, cpu in zip(servers, before, strict=True)
    ]


def tree_schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds waiting for one) of every thread of ``pid`` and its children.

    ``/proc/PID/task/TID/schedstat``: the scheduler's own nanosecond counts. ``/proc/PID/stat``'s
    user + system time is sampled at the clock tick (10 ms here) and undercounted FreeRADIUS,
    whose threads run in short bursts, by up to a fifth in this bench; the threads that
    ended are not counted here (both servers keep theirs).
    """
    ran = waited = 0
    for member in process_tree(pid):
        for on_cpu, runnable in thread_schedstats(member).values():
            ran += on_cpu
            waited += runnable
    return ran / 1e9, waited / 1e9


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(VENV_BIN / "radius-server"), *args], env=env, check=True, capture_output=True
    )


def start_ours(
    work: Path, extra_env: dict[str, str] | None = None, key_type: str = "rsa", workers: int = 1
) -> Server:
    """Our server on a fresh SQLite database with generated certificates of ``key_type``.

    ``workers`` > 1: ``serve --workers N`` (each eapol_test's source port stays on one).
    """
    env = {
        **os.environ,
        "RADIUS_DATABASE_URL": f"sqlite:///{work / 'radius.db'}",
        "RADIUS_DATA_DIR": str(work / "data"),
        "RADIUS_LOG_FORMAT": "json",
        "RADIUS_LOG_LEVEL": "warning",
        "RADIUS_METRICS_PORT": "0",  # any free port: runs side by side must not collide
        # One member, a device (MAC) per parallel eapol_test: FreeRADIUS has no such limit.
        "RADIUS_DEVICE_LIMIT": "0",
        # The one member stands for one member per eapol_test, each with its own device,
        # which stays known as a member's few devices do. With the default 3 known devices
        # a member, a 4th to 16th device would be forgotten and re-learnt at every sign-in,
        # a guessing-protection event written each time (rules/throttle.py).
        "RADIUS_THROTTLE_MAX_KNOWN_DEVICES": "1000",
    }
    env.pop("RADIUS_CONFIG", None)
    # The set-up commands too: a baseline's schema must be its own migrations' (its serve
    # refuses a database at a revision it does not know).
    env.update(extra_env or {})
    _cli(env, "db", "upgrade")  # admin commands do not create a missing SQLite file
    _cli(env, "nas", "add", "lo", "--address", "127.0.0.1", "--secret", SECRET)
    _cli(env, "customer", "add", USER, "--pin", PIN)
    _cli(env, "certs", "generate", "--hostname", "radius.bench.lan", "--key-type", key_type)
    log = (work / "ours.log").open("wb")
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "radius-server"),
            "serve",
            "--host",
            "127.0.0.1",
            "--auth-port",
            "0",
            "--acct-port",
            "0",
            *(("--workers", str(workers)) if workers > 1 else ()),
        ],
        env={**env, "RADIUS_LOG_LEVEL": "info"},
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    port = 0
    for raw in proc.stdout:
        event = json.loads(raw)
        if event.get("event") == "server_started":
            port = int(event["auth_port"])
            break
    # Drain the per-request log lines so the pipe never blocks the server.
    threading.Thread(target=_drain, args=(proc.stdout, log), daemon=True).start()
    name = "radius_server" + (f" x{workers}" if workers > 1 else "")
    return Server(name, proc, port, work / "data" / "certs" / "ca.pem")


def _drain(stream, sink) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        sink.write(line)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listen_on(site: Path, ports: list[int]) -> None:
    """Loopback listeners on our ports (in order of the site's ``port =`` lines)."""
    text = site.read_text().replace("ipaddr = *", "ipaddr = 127.0.0.1")
    text = text.replace("ipv6addr = ::\t", "ipv6addr = ::1\t")
    numbers = iter(ports)
    text = re.sub(
        r"^(\s*port = )\d+", lambda m: m.group(1) + str(next(numbers, 0)), text, flags=re.M
    )
    site.unlink()  # a symlink into sites-available
    site.write_text(text)


def start_freeradius(work: Path, certs: Path) -> Server | None:
    """FreeRADIUS 3.2 on a copy of the Debian configuration, same certificate and user."""
    if not Path(FREERADIUS).exists() or not Path("/etc/freeradius/3.0").exists():
        return None
    conf = work / "freeradius"
    shutil.copytree("/etc/freeradius/3.0", conf, symlinks=True)
    radiusd = (conf / "radiusd.conf").read_text()
    radiusd = re.sub(r"^\s*(user|group) = freerad", r"#\g<0>", radiusd, flags=re.M)
    radiusd = radiusd.replace("logdir = /var/log/freeradius", f"logdir = {work}")
    radiusd = radiusd.replace("run_dir = ${localstatedir}/run/${name}", f"run_dir = {work}")
    (conf / "radiusd.conf").write_text(radiusd)
    (conf / "clients.conf").write_text(
        f'client bench {{\n  ipaddr = 127.0.0.1\n  secret = "{SECRET}"\n}}\n'
    )
    users = conf / "mods-config" / "files" / "authorize"
    users.write_text(f'"{USER}" Cleartext-Password := "{PIN}"\n' + users.read_text())
    eap = (conf / "mods-available" / "eap").read_text()
    eap = eap.replace("default_eap_type = md5", "default_eap_type = peap", 1)
    eap = eap.replace("private_key_password = whatever", "")
    eap = eap.replace(
        "private_key_file = /etc/ssl/private/ssl-cert-snakeoil.key",
        f"private_key_file = {certs / 'server.key'}",
    )
    eap = eap.replace(
        "certificate_file = /etc/ssl/certs/ssl-cert-snakeoil.pem",
        f"certificate_file = {certs / 'server.pem'}",
    )
    eap = eap.replace(
        "ca_file = /etc/ssl/certs/ca-certificates.crt", f"ca_file = {certs / 'ca.pem'}"
    )
    # Its TLS session cache on (the comparison for fast reconnect), in memory.
    eap = re.sub(
        r"(\n\s*cache \{.*?\n\s*)enable = no\s*\n", r"\1enable = yes\n", eap, count=1, flags=re.S
    )
    eap = eap.replace('#\tname = "EAP module"', 'name = "bench"', 1)
    # FreeRADIUS 3.2 keeps its sessions in files ("requires name and persist_dir").
    (work / "tlscache").mkdir(mode=0o700)
    eap = eap.replace(
        '#\tpersist_dir = "${logdir}/tlscache"', f'persist_dir = "{work / "tlscache"}"', 1
    )
    (conf / "mods-available" / "eap").unlink()
    (conf / "mods-available" / "eap").write_text(eap)
    port, acct_port, inner_port = _free_port(), _free_port(), _free_port()
    _listen_on(conf / "sites-enabled" / "default", [port, acct_port, port, acct_port])
    _listen_on(conf / "sites-enabled" / "inner-tunnel", [inner_port])
    proc = subprocess.Popen(
        [FREERADIUS, "-f", "-d", str(conf), "-l", "stdout"],
        stdout=(work / "freeradius.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server("freeradius-3.2", proc, port, certs / "ca.pem")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print("freeradius did not start; see", work / "freeradius.log", file=sys.stderr)
            return None
        if run_eapol(server, work, "peap", 0).ok:
            return server
        time.sleep(0.3)
    server.stop()
    return None


# -- full authentications ---------------------------------------------------------------------


def eapol_conf(work: Path, method: str, ca_file: Path) -> Path:
    """The eapol_test configuration for PEAP/MSCHAPv2 or TTLS/PAP (written once)."""
    eap, phase2 = ("PEAP", "auth=MSCHAPV2") if method == "peap" else ("TTLS", "auth=PAP")
    # One per CA: servers side by side each have their own (ours, a baseline).
    tag = hashlib.sha256(str(ca_file).encode()).hexdigest()[:8]
    path = work / f"{method}-{ca_file.parent.parent.name}-{tag}.conf"
    if path.exists():  # written once: parallel workers read it
        return path
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "network={\n key_mgmt=WPA-EAP\n"
        f' eap={eap}\n identity="{USER}"\n anonymous_identity="anonymous"\n'
        f' password="{PIN}"\n ca_cert="{ca_file}"\n phase2="{phase2}"\n}}\n'
    )
    tmp.replace(path)
    return path


@dataclass
class EapolRun:
    """One ``eapol_test`` process: its authentications and how they went."""

    ok: bool  # every authentication succeeded with MPPE keys
    auths: int  # authentications that succeeded (1 + reauths when ok)
    resumed: int  # handshakes that resumed a TLS session
    requests: int  # Access-Requests sent
    seconds: float


def run_eapol(server: Server, work: Path, method: str, worker: int, reauths: int = 0) -> EapolRun:
    """One full authentication, then ``reauths`` reauthentications offering the session."""
    conf = eapol_conf(work, method, server.ca_file)
    mac = f"02:00:00:00:{worker // 256:02x}:{worker % 256:02x}"
    started = time.perf_counter()
    result = subprocess.run(
        [
            EAPOL_TEST,
            "-c",
            str(conf),
            "-a",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-s",
            SECRET,
            "-r",
            str(reauths),
            "-t",
            "10",
            f"-M{mac}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    keys = re.search(r"MPPE keys OK: (\d+)  mismatch: (\d+)", result.stdout)
    good = int(keys.group(1)) if keys else 0
    ok = result.returncode == 0 and good == reauths + 1 and bool(keys) and keys.group(2) == "0"
    if not ok:
        (work / f"failed-{server.name}-{method}-{worker}.txt").write_text(result.stdout)
    return EapolRun(
        ok,
        good,
        result.stdout.count("Handshake finished - resumed=1"),
        result.stdout.count("code=1 (Access-Request)"),
        took,
    )


@dataclass
class Tally:
    """What one server did in one phase, summed over its slices."""

    auths: int = 0
    failures: int = 0
    resumed: int = 0
    requests: int = 0
    cpu: float = 0.0  # server CPU seconds, idle rate taken out
    run_queue: float = 0.0  # seconds the server's threads waited for a CPU
    elapsed: float = 0.0
    latencies: list[float] | None = None


def run_slice(
    server: Server,
    work: Path,
    method: str,
    parallel: int,
    duration: float,
    tally: Tally,
    reauths: int = 0,
    idle: float = 0.0,
) -> None:
    """``parallel`` eapol_test loops against ``server`` for ``duration`` s, added to ``tally``.

    With ``reauths`` each process signs in once and then ``reauths`` times more,
    offering its TLS session. ``idle``: the server's CPU seconds per second without
    traffic, taken out.
    """
    counts = [0] * parallel
    resumed = [0] * parallel
    requests = [0] * parallel
    failures = [0] * parallel
    latencies: list[float] = []
    deadline = time.monotonic() + duration
    cpu_before = server.cpu_seconds()
    waited_before = server.run_queue_seconds()
    started = time.monotonic()

    def loop(worker: int) -> None:
        while time.monotonic() < deadline:
            run = run_eapol(server, work, method, worker + 1, reauths)
            counts[worker] += run.auths
            resumed[worker] += run.resumed
            requests[worker] += run.requests
            if run.ok:
                latencies.append(run.seconds / (reauths + 1))
            else:
                failures[worker] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # What the server burns without traffic is not the handshakes' cost; the resumed
    # phase, paced by eapol_test, would carry more of it per authentication.
    tally.cpu += max(server.cpu_seconds() - cpu_before - idle * elapsed, 0.0)
    tally.elapsed += elapsed
    tally.run_queue += server.run_queue_seconds() - waited_before
    tally.auths += sum(counts)
    tally.failures += sum(failures)
    tally.resumed += sum(resumed)
    tally.requests += sum(requests)
    tally.latencies = (tally.latencies or []) + latencies


def summary(tally: Tally, reauths: int = 0, full_cpu_ms: float | None = None) -> dict:
    """The figures of one phase; ``full_cpu_ms`` (the full phase's CPU per authentication)
    splits a resumed phase's CPU into its full and its resumed authentications."""
    done, cpu = tally.auths, tally.cpu
    latencies = sorted(tally.latencies or [])
    result = {
        "auths": done,
        "failures": tally.failures,
        "auth_per_s": round(done / tally.elapsed, 1) if tally.elapsed else 0.0,
        "server_cpu_ms_per_auth": round(cpu * 1000 / done, 2) if done else None,
        "rounds_per_auth": round(tally.requests / done, 1) if done else None,
        # Latency the machine adds: the server runnable, waiting for a core (per round).
        "run_queue_us_per_request": round(tally.run_queue * 1e6 / tally.requests)
        if tally.requests
        else None,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "load_average": round(os.getloadavg()[0], 2),
    }
    if reauths:
        n_resumed = tally.resumed
        result["resumed"] = n_resumed
        result["resumed_share"] = round(n_resumed / done, 2) if done else 0.0
        if n_resumed and full_cpu_ms is not None:
            rest = cpu * 1000 - (done - n_resumed) * full_cpu_ms
            result["server_cpu_ms_per_resumed"] = round(max(rest, 0.0) / n_resumed, 2)
    return result


def throughput(
    server: Server,
    work: Path,
    method: str,
    parallel: int,
    duration: float,
    reauths: int = 0,
    full_cpu_ms: float | None = None,
    idle: float = 0.0,
) -> dict:
    """Authentications per second of one server alone, for ``duration`` seconds."""
    tally = Tally()
    run_slice(server, work, method, parallel, duration, tally, reauths, idle)
    return summary(tally, reauths, full_cpu_ms)


# -- half-open conversations -----------------------------------------------------------------


def _access_request(identifier: int, attributes: list[tuple[int, bytes]]) -> bytes:
    """An Access-Request with Message-Authenticator first (RFC 3579 3.2)."""
    authenticator = secrets.token_bytes(16)
    body = bytes((80, 18)) + bytes(16)
    for attr_type, value in attributes:
        body += bytes((attr_type, len(value) + 2)) + value
    length = 20 + len(body)
    header = bytes((1, identifier, length >> 8, length & 0xFF))
    mac = hmac.digest(SECRET.encode(), header + authenticator + body, "md5")
    return header + authenticator + body[:2] + mac + body[18:]


def _eap_attrs(eap: bytes, station: str, state: bytes | None) -> list[tuple[int, bytes]]:
    attrs = [(1, b"anonymous"), (31, station.encode())]
    if state is not None:
        attrs.append((24, state))
    attrs += [(79, eap[i : i + 253]) for i in range(0, len(eap), 253)]
    return attrs


def _reply_parts(reply: bytes) -> tuple[int, bytes | None, bytes]:
    """(code, State, joined EAP-Message) of a reply."""
    pos, state, eap = 20, None, b""
    while pos < len(reply):
        attr_type, attr_len = reply[pos], reply[pos + 1]
        if attr_type == 24:
            state = reply[pos + 2 : pos + attr_len]
        elif attr_type == 79:
            eap += reply[pos + 2 : pos + attr_len]
        pos += attr_len
    return reply[0], state, eap


def _exchange(
    sock: socket.socket, port: int, ident: int, attrs: list
) -> tuple[int, bytes | None, bytes]:
    sock.sendto(_access_request(ident & 0xFF, attrs), ("127.0.0.1", port))
    return _reply_parts(sock.recv(4096))


def half_open(server: Server, count: int) -> dict:
    """Open ``count`` PEAP conversations up to the ClientHello; report the server's RSS."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    rss_before, _ = server.rss_kib()
    opened = 0
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for n in range(count):
            station = f"02-10-{n >> 16 & 255:02X}-{n >> 8 & 255:02X}-{n & 255:02X}-00"
            eap = bytes((2, 1, 0, 14, 1)) + b"anonymous"
            code, state, req = _exchange(sock, server.port, n, _eap_attrs(eap, station, None))
            if req[4:5] != b"\x19":  # not PEAP: Nak to PEAP (FreeRADIUS starts with MD5)
                nak = bytes((2, req[1], 0, 6, 3, 25))
                code, state, req = _exchange(sock, server.port, n, _eap_attrs(nak, station, state))
            conn = SSL.Connection(ctx, None)
            conn.set_connect_state()
            with contextlib.suppress(SSL.WantReadError):
                conn.do_handshake()
            hello = conn.bio_read(65536)
            data = bytes((0,)) + hello
            eap = bytes((2, req[1])) + (5 + len(data)).to_bytes(2, "big") + b"\x19" + data
            code, state, req = _exchange(sock, server.port, n, _eap_attrs(eap, station, state))
            if code == 11:
                opened += 1
    time.sleep(0.5)
    rss_after, hwm = server.rss_kib()
    return {
        "conversations": count,
        "opened": opened,
        "seconds": round(time.monotonic() - started, 2),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "peak_rss_mib": round(hwm / 1024, 1),
        "kib_per_conversation": round((rss_after - rss_before) / max(opened, 1), 1),
    }


def bench(servers: list[Server], work: Path, args: argparse.Namespace, half: int = 0) -> list[dict]:
    """All figures for each server: full and resumed, PEAP and TTLS; half-open if ``half``.

    The servers run side by side and each phase is cut into ``args.slices`` slices
    taken in turn (A B B A ...), full and resumed ones alternating as well, so a change
    in the machine's load or speed (other processes on the shared cores) falls on every
    server and on both phases alike, and the ratios of one run hold.
    """
    for server in servers:
        for method in ("peap", "ttls"):
            run_eapol(server, work, method, 0)  # warm up
    # After the warm-up's after-work settled (in turn, ours measured 8 against 2 ms/s).
    idle = idle_rates(servers, settle=3.0)
    results: list[dict] = [
        {"server": server.name, "idle_cpu_ms_per_s": round(rate * 1000, 1)}
        for server, rate in zip(servers, idle, strict=True)
    ]
    slices = max(args.slices, 1)
    for method in ("peap", "ttls"):
        # Full and resumed slices alternate too (full, resumed, resumed, full...): the
        # ratio of the two, the target, then sees the same machine, whose speed
        # drifts by +-20 % over minutes on shared cores.
        tallies = {reauths: [Tally() for _ in servers] for reauths in (0, args.reauths)}
        for n in range(slices):
            phases = (0, args.reauths) if n % 2 == 0 else (args.reauths, 0)
            for reauths in phases:
                order = range(len(servers)) if n % 2 == 0 else reversed(range(len(servers)))
                for i in order:
                    run_slice(
                        servers[i],
                        work,
                        method,
                        args.parallel,
                        args.duration / slices,
                        tallies[reauths][i],
                        reauths,
                        idle[i],
                    )
        for result, full, resumed in zip(results, tallies[0], tallies[args.reauths], strict=True):
            result[method] = {"full": summary(full)}
            full_ms = result[method]["full"]["server_cpu_ms_per_auth"]
            result[method]["resumed"] = summary(resumed, args.reauths, full_ms)
    if half:
        for server, result in zip(servers, results, strict=True):
            result["half_open"] = half_open(server, half)
    return results


def split_cpus() -> tuple[set[int], set[int]] | None:
    """(the servers' CPU, the supplicants' CPUs) for ``--pin-server``; None on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) > 1 else None


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Move every thread of ``pid`` and of its children to ``cpus`` (threads started later
    inherit their creator's set)."""
    for member in process_tree(pid):
        for tid in thread_schedstats(member):
            with contextlib.suppress(OSError):  # the thread ended meanwhile
                os.sched_setaffinity(tid, cpus)


def run(args: argparse.Namespace, work: Path) -> dict:
    """Every key type, ours and FreeRADIUS on the same certificate; the report as a dict."""
    split = split_cpus() if args.pin_server else None
    if split is not None:
        # This thread starts every eapol_test: they inherit its CPUs.
        os.sched_setaffinity(0, split[1])
    key_types = ("rsa", "ecdsa") if args.key_type == "both" else (args.key_type,)
    by_key: dict[str, list[dict]] = {}
    for index, key_type in enumerate(key_types):
        site = work / key_type
        site.mkdir()
        # Memory does not depend on the key; RSS is read from one process.
        half = args.half_open if index == 0 and args.workers == 1 else 0
        servers = [start_ours(site, key_type=key_type, workers=args.workers)]
        try:
            if not args.no_freeradius:
                fr = start_freeradius(site, site / "data" / "certs")
                if fr is not None:
                    servers.append(fr)
            if args.baseline_src:
                # Another checkout's radius_server (e.g. main), same bench, in the same turns.
                (site / "baseline").mkdir()
                base = start_ours(
                    site / "baseline",
                    {"PYTHONPATH": str(Path(args.baseline_src).resolve())},
                    key_type,
                    args.workers,
                )
                base.name = "baseline"
                servers.append(base)
            if split is not None:
                for server in servers:
                    pin_tree(server.process.pid, split[0])
            by_key[key_type] = bench(servers, site, args, half)
        finally:
            for server in servers:
                server.stop()
    return {
        "cpus": os.cpu_count(),
        "parallel": args.parallel,
        "duration_s": args.duration,
        "slices": args.slices,
        "reauths": args.reauths,
        "workers": args.workers,
        "tls": "1.2",
        "pinned": split is not None,
        "results": by_key,
    }


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if ours and theirs else "-"


def report(data: dict) -> str:
    """The side-by-side text: one line per key type, method and phase."""
    lines = [
        f"EAP: {data['parallel']} parallel eapol_test, {data['duration_s']:g} s per phase "
        f"in {data.get('slices', 1)} slices (servers in turn), "
        f"TLS 1.2, resumed = 1 full + {data['reauths']} reauthentications per eapol_test, "
        + (
            "servers on CPU 0, supplicants on the others"
            if data.get("pinned")
            else f"{data['cpus']} CPUs shared by server and supplicants"
        )
        + f"; ours with {data['workers']} worker(s)",
        f"{'key':6} {'method':5} {'phase':8} | {'ours auth/s':>11} {'CPU ms':>6} {'rounds':>6} "
        f"{'resumed':>7} | {'FR auth/s':>9} {'CPU ms':>6} {'rounds':>6} {'resumed':>7} | "
        f"{'auth/s':>6} {'CPU':>6}",
    ]
    baselines: list[str] = []
    for key_type, all_results in data["results"].items():
        results = [r for r in all_results if r["server"] != "baseline"]
        for base in (r for r in all_results if r["server"] == "baseline"):
            for method in ("peap", "ttls"):
                for phase in ("full", "resumed"):
                    b, o = base[method][phase], all_results[0][method][phase]
                    key = "server_cpu_ms_per_resumed" if phase == "resumed" else None
                    b_cpu = b.get(key or "server_cpu_ms_per_auth")
                    o_cpu = o.get(key or "server_cpu_ms_per_auth")
                    if not b["auths"]:
                        baselines.append(f"{key_type:6} {method:5} {phase:8} | baseline failed")
                        continue
                    baselines.append(
                        f"{key_type:6} {method:5} {phase:8} | baseline {b['auth_per_s']:>6} auth/s "
                        f"{b_cpu if b_cpu is not None else '-':>6} ms {b['rounds_per_auth']:>5} "
                        f"rounds | ours/baseline auth/s {_ratio(o['auth_per_s'], b['auth_per_s'])} "
                        f"CPU {_ratio(o_cpu, b_cpu)}"
                    )
        ours = results[0]
        theirs = results[1] if len(results) > 1 else None
        for method in ("peap", "ttls"):
            for phase in ("full", "resumed"):
                o = ours[method][phase]
                t = theirs[method][phase] if theirs else {}
                cpu_key = "server_cpu_ms_per_resumed" if phase == "resumed" else None

                def cells(m: dict, cpu_key: str | None = cpu_key) -> str:
                    if not m:
                        return f"{'-':>9} {'-':>6} {'-':>6} {'-':>7}"
                    cpu = m.get(cpu_key) if cpu_key else m["server_cpu_ms_per_auth"]
                    share = f"{m['resumed_share']:.0%}" if "resumed_share" in m else ""
                    return (
                        f"{m['auth_per_s']:>9} {cpu if cpu is not None else '-':>6} "
                        f"{m['rounds_per_auth'] or '-':>6} {share:>7}"
                    )

                o_cpu = o.get(cpu_key or "server_cpu_ms_per_auth")
                t_cpu = t.get(cpu_key or "server_cpu_ms_per_auth")
                lines.append(
                    f"{key_type:6} {method:5} {phase:8} | {cells(o):>11}  | {cells(t)} | "
                    f"{_ratio(o['auth_per_s'], t.get('auth_per_s')):>6} {_ratio(o_cpu, t_cpu):>6}"
                )
        for r in all_results:
            # Capacity of resumed sign-ins over full ones: the CPU each costs.
            speedups = []
            for method in ("peap", "ttls"):
                full_ms = r[method]["full"]["server_cpu_ms_per_auth"]
                resumed_ms = r[method]["resumed"].get("server_cpu_ms_per_resumed")
                speedups.append(f"{method} {_ratio(full_ms, resumed_ms)}")
            waits = ", ".join(
                f"{method} {phase} {r[method][phase].get('run_queue_us_per_request')}"
                for method in ("peap", "ttls")
                for phase in ("full", "resumed")
            )
            lines.append(
                f"{r['server']}: full/resumed CPU {', '.join(speedups)}; idle CPU "
                f"{r['idle_cpu_ms_per_s']} ms/s (taken out); waiting for a core, us per "
                f"request: {waits}"
            )
        for r in all_results:
            h = r.get("half_open")
            if h:
                lines.append(
                    f"{r['server']}: {h['opened']}/{h['conversations']} half-open PEAP: RSS "
                    f"{h['rss_before_mib']} -> {h['rss_after_mib']} MiB (peak "
                    f"{h['peak_rss_mib']} MiB), {h['kib_per_conversation']} KiB each"
                )
    lines += baselines
    lines.append(
        "CPU ms: server CPU per authentication (scheduler run time, /proc/PID/task/*/schedstat) "
        "less its idle rate (resumed rows: per resumed one); rounds: "
        "Access-Requests per authentication; ratios ours/FreeRADIUS (auth/s: above 1 is "
        "better; CPU: below 1 is better)"
    )
    return "\n".join(lines)


def _at_least_one(text: str) -> int:
    """``--reauths``: a resumed phase needs a reauthentication to resume."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options (also what ``run.py --eap`` sets)."""
    parser.add_argument("--parallel", type=int, default=4, help="eapol_test processes at once")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument(
        "--reauths",
        type=_at_least_one,
        default=9,
        help="reauthentications per eapol_test (resumed; at least 1)",
    )
    parser.add_argument("--key-type", choices=("rsa", "ecdsa", "both"), default="both")
    parser.add_argument("--half-open", type=int, default=1000, help="half-open conversations")
    parser.add_argument("--no-freeradius", action="store_true", help="skip FreeRADIUS")
    parser.add_argument("--workers", type=int, default=1, help="ours: serve --workers N")
    parser.add_argument(
        "--baseline-src",
        help="also run the radius_server of this source tree (PYTHONPATH), in the same turns",
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=4,
        help="each phase in this many slices, the servers taking turns (1: one after the other)",
    )
    parser.add_argument(
        "--pin-server",
        action="store_true",
        help="servers on the first CPU, the supplicants on the others",
    )


def measure(
    duration: float, *, freeradius: bool = True, half_open_count: int = 0, workers: int = 1
) -> str:
    """The EAP phase of ``run.py``: every key type, full and resumed; the report text."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    args.duration = duration
    args.workers = workers
    args.no_freeradius = not freeradius
    args.half_open = half_open_count
    if not Path(EAPOL_TEST).exists():
        return "EAP: eapol_test is not installed (apt-get install eapoltest): not measured"
    work = Path(tempfile.mkdtemp(prefix="eap-bench-"))
    try:
        return report(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    """Run the benchmark; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    if not Path(EAPOL_TEST).exists():
        print("eapol_test is not installed (apt-get install eapoltest)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="eap-bench-"))
    try:
        data = run(args, work)
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    data["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(data, indent=2) if args.json else report(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
