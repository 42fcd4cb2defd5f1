"""The HTTP API on 100,000 members (issue 14): read latency and a 10,000-member sync.

A throw-away PostgreSQL database (127.0.0.1:5432, created here and dropped afterwards)
is migrated and seeded with psycopg COPY (not the CLI: 90,000 members in a few seconds),
then ``radius-server web`` runs as a subprocess on it, as in production (uvicorn, one
process, JSON access log), and an operator token made with the CLI drives it.

1. **Sync** (``POST /api/v1/customers:sync``), timed end to end (request sent to answer
   read): a feed of ``--sync`` (10,000) new members with their PINs, which brings the
   database to ``--customers`` (100,000); the same feed again (all unchanged); the feed
   with every name changed (all updated).
2. **Reads** on the full database, by ``--concurrency`` concurrent httpx clients (each
   level in turn), ``--requests`` requests per kind after a warm-up: the first page of
   the list, a deep page (a real cursor from the second half of a walk through the
   whole list), a search matching many members (a surname), a search matching one
   member (part of an email), filters (``active=false``: 10 %, ``plan=desk``: 20 %),
   and one member by email. p50/p99 latency (each request, sent to answer read),
   requests per second, and the web process's CPU per request (its cost, which the
   machine's load moves less than the latency). The walk (every page of 500) too.
3. **Single writes**, one client: ``--writes`` PUT upserts each renaming a member.

Five digits give 100,000 PINs, so 100,000 members use every code, trivial ones included
(the seed assigns them; only the server's random draw avoids trivial codes): the sync
feed carries PINs, as a platform that keeps them does.

    .venv/bin/python bench/api_bench.py [--customers 100000] [--sync 10000] \\
        [--concurrency 1,4] [--requests 1000] [--writes 200] [--skip-sync]

Targets (issue 14): reads p99 < 50 ms, the 10,000-member sync < 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from radius_server.store import database

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_READ_P99_MS = 50.0
TARGET_SYNC_SECONDS = 10.0
PIN_CODES = 100_000
WARMUP = 50
WALK_PAGE = 500

FIRST = tuple(
    str.split(
        "ana bruno carla daniel eva felix greta hugo ines jonas karla leon mia noah olga paul "
        "quinn rosa samuel tina ugo vera walter xenia yusuf zoe amir bea chen dora emil fatima "
        "gael hana ivan jade kenji lina mateo nora"
    )
)
LAST = tuple(
    str.split(
        "smith garcia muller rossi novak silva kowalski jensen dubois fischer moreau weber "
        "schmidt costa romano ferrari nielsen berg larsen horvat kovac popescu ivanova petrov "
        "santos oliveira pereira lopez martin bernard richard petit durand leroy simon laurent "
        "lefebvre michel david bertrand roux vincent fournier morel girard andre mercier "
        "blanc guerin boyer garnier chevalier francois legrand gauthier perrin robin clement"
    )
)
DOMAINS = ("example.com", "example.org", "mail.example.net", "cowork.example")


@dataclass(frozen=True)
class Member:
    """One member of the seed or of the sync feed."""

    number: int
    email: str
    name: str
    pin: str


def members(total: int, seed: int = 14) -> list[Member]:
    """``total`` distinct members, each with a distinct PIN (every code is used at 100,000)."""
    rng = random.Random(seed)
    codes = [f"{n:05d}" for n in range(PIN_CODES)]
    rng.shuffle(codes)
    out = []
    for number in range(total):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{number:06d}@{rng.choice(DOMAINS)}"
        out.append(Member(number, email, f"{first.title()} {last.title()}", codes[number]))
    return out


# --- the database ----------------------------------------------------------------------


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database; dropped (connections forced off) afterwards."""
    name = f"radius_bench_{secrets.token_hex(5)}"
    with psycopg.connect(_dsn(PG_ADMIN), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = database.make_engine(url)
        database.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(_dsn(PG_ADMIN), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, rows: list[Member], plan_id: int) -> float:
    """COPY ``rows`` into customers (10 % inactive, 20 % on plan ``plan_id``); seconds."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    columns = "email, full_name, pin, active, wifi_access, plan_id, created_at, updated_at, "
    columns += "pin_changed_at"
    with psycopg.connect(_dsn(url)) as conn:
        with conn.cursor().copy(f"COPY customers ({columns}) FROM STDIN") as copy:
            for m in rows:
                copy.write_row(
                    (
                        m.email,
                        m.name,
                        m.pin,
                        m.number % 10 != 0,
                        m.number % 100 != 1,
                        plan_id if m.number % 5 == 2 else None,
                        now,
                        now,
                        now,
                    )
                )
        conn.execute("ANALYZE customers")
    return time.perf_counter() - started


# --- the CLI and the web process -------------------------------------------------------


def program() -> str:
    """The ``radius-server`` console script of this interpreter's virtualenv."""
    return str(Path(sys.executable).parent / "radius-server")


def environment(url: str) -> dict[str, str]:
    """The environment of a CLI or web run on ``url`` (no config file, JSON logs)."""
    return {
        **os.environ,
        "RADIUS_DATABASE_URL": url,
        "RADIUS_CONFIG": os.devnull,
        "RADIUS_LOG_FORMAT": "json",
        "RADIUS_LOG_LEVEL": "info",
    }


def cli(url: str, *args: str) -> str:
    """Run one CLI command; its standard output (raises with stderr on failure)."""
    done = subprocess.run(
        [program(), *args], env=environment(url), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"radius-server {' '.join(args[:2])}: {done.stderr.strip()}")
    return done.stdout


class Web:
    """``radius-server web`` on a free port, its log in a file.

    A file, not a pipe: a thread draining the pipe here would take the GIL from the
    clients being timed.
    """

    def __init__(self, url: str, log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [program(), "web", "--host", "127.0.0.1", "--port", "0"],
                env=environment(url),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = self._wait_started()

    def _wait_started(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in self.log.read_text().splitlines():
                if '"web_started"' in line:
                    return int(json.loads(line)["port"])
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("radius-server web did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        """SIGTERM (graceful stop), then wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- measuring -------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Result:
    """One measured kind of request at one concurrency."""

    name: str
    concurrency: int
    latencies: list[float]
    seconds: float
    failures: int
    # CPU the web process spent per request (ms): its cost, whatever the machine's load.
    cpu_ms: float

    def percentile(self, share: float) -> float:
        """Latency in ms below which ``share`` of the requests fell (nearest rank)."""
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def rate(self) -> float:
        """Requests answered per second over the run."""
        return len(self.latencies) / self.seconds


async def measure(
    web_pid: int,
    base_url: str,
    headers: dict[str, str],
    name: str,
    paths: Paths,
    concurrency: int,
    requests: int,
) -> Result:
    """``requests`` GETs of ``paths(rng)`` by ``concurrency`` workers, after a warm-up."""
    rng = random.Random(name)
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker(count: int, record: bool) -> None:
            nonlocal failures
            for _ in range(count):
                call = paths(rng)
                started = time.perf_counter()
                if isinstance(call, str):
                    answer = await client.get(call)
                else:
                    method, path, body = call
                    answer = await client.request(method, path, json=body)
                elapsed = time.perf_counter() - started
                if answer.status_code != 200:
                    failures += 1
                elif record:
                    latencies.append(elapsed)

        warmup = WARMUP // concurrency + 1
        await asyncio.gather(*(worker(warmup, False) for _ in range(concurrency)))
        started, cpu = time.perf_counter(), cpu_seconds(web_pid)
        share, extra = divmod(requests, concurrency)
        await asyncio.gather(*(worker(share + (i < extra), True) for i in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(web_pid) - cpu
    return Result(name, concurrency, latencies, seconds, failures, cpu * 1000 / requests)


def walk(client: httpx.Client) -> tuple[float, int, list[str]]:
    """Every page of the list, WALK_PAGE at a time: (seconds, members seen, cursors)."""
    cursors: list[str] = []
    seen = 0
    cursor: str | None = None
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": WALK_PAGE}
        if cursor:
            params["cursor"] = cursor
        answer = client.get("/api/v1/customers", params=params)
        answer.raise_for_status()
        page = answer.json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return time.perf_counter() - started, seen, cursors
        cursors.append(cursor)


def sync(client: httpx.Client, feed: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    """POST the feed to ``:sync``; (seconds sent to answer read, the counts reported)."""
    body = json.dumps({"members": feed})
    started = time.perf_counter()
    answer = client.post(
        "/api/v1/customers:sync", content=body, headers={"Content-Type": "application/json"}
    )
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"sync: {answer.status_code} {answer.text[:500]}")
    return seconds, answer.json()["counts"]


def feed_of(rows: list[Member], suffix: str = "") -> list[dict[str, Any]]:
    """A platform's feed: each member's whole state, PIN included."""
    return [{"email": m.email, "name": m.name + suffix, "pin": m.pin, "active": True} for m in rows]


# --- the run ---------------------------------------------------------------------------


# The next request: a path to GET, or (method, path, JSON body).
Paths = Callable[[random.Random], str | tuple[str, str, dict[str, Any]]]


def read_kinds(everyone: list[Member], deep: list[str]) -> dict[str, Paths]:
    """Each kind of read: a function drawing the next request's path."""
    base = "/api/v1/customers"
    return {
        "list: first page": lambda rng: base,
        "list: deep page (cursor)": lambda rng: f"{base}?cursor={rng.choice(deep)}",
        "search: surname (many)": lambda rng: f"{base}?search={rng.choice(LAST)}",
        "search: email part (one)": lambda rng: (
            f"{base}?search=.{rng.randrange(len(everyone)):06d}@"
        ),
        "filter: active=false": lambda rng: f"{base}?active=false",
        "filter: plan=desk": lambda rng: f"{base}?plan=desk",
        "show: one member": lambda rng: f"{base}/{rng.choice(everyone).email}",
    }


def load() -> str:
    """The machine's 1-minute load average (the numbers mean little when it is high)."""
    return f"{os.getloadavg()[0]:.1f}"


def write_kinds(everyone: list[Member]) -> dict[str, Paths]:
    """Single writes a platform pushes one at a time: each really changes something."""
    base = "/api/v1/customers"
    return {
        "upsert: rename one (PUT)": lambda rng: (
            "PUT",
            f"{base}/{rng.choice(everyone).email}",
            {"name": f"Renamed {rng.randrange(10**9)}"},
        ),
    }


def read_header() -> None:
    """The read table's heading."""
    head = f"{'request':28} {'conc':>4} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>6} {'cpu ms':>6}"
    head += f" {'fail':>4}"
    print(f"\n{head}  target", flush=True)


def print_read(r: Result) -> None:
    """One row of the read table, printed as soon as it is measured."""
    p99 = r.percentile(0.99)
    verdict = "ok" if p99 < TARGET_READ_P99_MS and not r.failures else "MISSED"
    print(
        f"{r.name:28} {r.concurrency:>4} {r.percentile(0.5):>7.1f} {p99:>7.1f} "
        f"{r.rate:>6.0f} {r.cpu_ms:>6.2f} {r.failures:>4}  {verdict}  load {load()}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Seed, start the web process, sync, read; print the tables; clean up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=100_000, help="members in the end")
    parser.add_argument("--sync", type=int, default=10_000, help="members in the sync feed")
    parser.add_argument("--concurrency", default="1,4", help="client counts, comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="requests per kind")
    parser.add_argument("--writes", type=int, default=200, help="single writes (one client)")
    parser.add_argument(
        "--skip-sync", action="store_true", help="seed every member by COPY; measure reads only"
    )
    args = parser.parse_args(argv)
    if not 0 < args.sync <= args.customers <= PIN_CODES:
        parser.error(f"need 0 < --sync <= --customers <= {PIN_CODES} (one PIN each)")
    levels = [int(n) for n in args.concurrency.split(",")]

    everyone = members(args.customers)
    seeded, incoming = everyone[: -args.sync], everyone[-args.sync :]
    if args.skip_sync:
        seeded, incoming = everyone, []
    with throwaway_database() as url:
        cli(url, "plan", "add", "desk", "--reply", "Filter-Id = desk")
        with psycopg.connect(_dsn(url)) as conn:
            row = conn.execute("SELECT id FROM plans WHERE name = 'desk'").fetchone()
        assert row is not None
        seconds = seed(url, seeded, row[0])
        print(f"seeded {len(seeded):,} members by COPY in {seconds:.1f} s", flush=True)
        token = json.loads(cli(url, "--json", "token", "create", "bench", "--role", "operator"))
        headers = {"Authorization": f"Bearer {token['token']}"}
        workdir = Path(tempfile.mkdtemp(prefix="api_bench_"))
        web = Web(url, workdir / "web.log")
        try:
            base_url = f"http://127.0.0.1:{web.port}"
            with httpx.Client(base_url=base_url, headers=headers, timeout=600) as client:
                if incoming:
                    title = f"sync of {len(incoming):,} members"
                    print(f"\n{title:34} {'seconds':>8}  report")
                for label, feed in (
                    ("new (created)", feed_of(incoming)),
                    ("re-sent (unchanged)", feed_of(incoming)),
                    ("names changed (updated)", feed_of(incoming, " (changed)")),
                ):
                    if not feed:
                        continue
                    took, counts = sync(client, feed)
                    verdict = "ok" if took < TARGET_SYNC_SECONDS else "MISSED"
                    print(f"  {label:32} {took:>8.2f}  {verdict}  {counts}", flush=True)
                took, seen, cursors = walk(client)
                print(
                    f"\nwalk of the whole list, {WALK_PAGE} a page: {seen:,} members, "
                    f"{len(cursors) + 1} pages, {took:.2f} s"
                )
            deep = cursors[len(cursors) // 2 :] or cursors
            read_header()
            writes = [(1, name, paths) for name, paths in write_kinds(everyone).items()]
            reads = [
                (level, name, paths)
                for level in levels
                for name, paths in read_kinds(everyone, deep).items()
            ]
            for level, name, paths in reads + writes:
                count = args.requests if (level, name, paths) in reads else args.writes
                print_read(
                    asyncio.run(measure(web.proc.pid, base_url, headers, name, paths, level, count))
                )
        finally:
            web.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
