"""Does asking for a sign-in link take the same time for a member and a stranger? (issue 15)

The application runs in uvicorn in a child process (so the client's work here
never competes with it for the GIL) on a throw-away SQLite file, sending through
an SMTP sink (aiosmtpd, in the same child) on 127.0.0.1. Requests come in
pairs, a member's email and a stranger's, in random order; each one is a fresh browser
(httpx client): GET the form, then POST it. Timed: the POST, sent to answer read.
The per-source and per-email limits are raised for the run (each email is asked
once anyway). Also timed: the signed-in member's page (``GET /me/``).

    .venv/bin/python bench/member_link_timing.py [--requests 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import email
import email.policy
import logging
import os
import random
import re
import shutil
import socket
import statistics
import tempfile
import time
from multiprocessing import Process, Queue
from pathlib import Path

import httpx
import structlog
import uvicorn
from aiosmtpd.controller import Controller

from radius_server.admin import Admin, open_sessions
from radius_server.admin.customers import NewCustomer
from radius_server.config import load_settings
from radius_server.store import database
from radius_server.web.app import create_app
from radius_server.web.pages import member_pages

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"(/me/link\?token=[A-Za-z0-9_%-]+)")


class Sink:
    """aiosmtpd handler writing each message's text to ``mail-N.txt`` in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        raw = envelope.content  # type: ignore[attr-defined]
        message = email.message_from_bytes(raw, policy=email.policy.default)
        path = self.directory / f"mail-{self.count}.txt"
        path.write_text(message.get_content())  # type: ignore[attr-defined]
        self.count += 1
        return "250 OK"


def _ask(base: str, email: str) -> float:
    with httpx.Client(base_url=base) as client:
        form = client.get("/me/sign-in")
        token = _CSRF.search(form.text)
        assert token is not None
        started = time.perf_counter()
        answer = client.post("/me/sign-in", data={"email": email, "csrf_token": token.group(1)})
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200, answer.status_code
    return elapsed * 1000


def _summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return (
        f"{name:<22} n={len(values):<4} p50={statistics.median(values):6.2f} ms  "
        f"p90={p90:6.2f} ms  mean={statistics.fmean(values):6.2f} ms"
    )


def _serve(workdir: Path, members: list[str], ready: Queue) -> None:  # type: ignore[type-arg]
    """The server side, in its own process: SMTP sink, database, uvicorn (never returns)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    member_pages.LINKS_PER_SOURCE = 10**6  # each email is asked once; one source asks all
    member_pages.LINKS_PER_EMAIL = 10**6
    sink = Sink(workdir)
    with socket.socket() as probe:  # aiosmtpd wants a real port number
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = dataclasses.replace(
        load_settings(os.devnull, environ={}),
        data_dir=str(workdir),
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        web_public_url=base,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_sender_address="desk@bench.example",
        smtp_rate_per_minute=10**6,
    )
    engine = database.make_engine(settings.database_url_resolved())
    database.upgrade(engine)
    admin = Admin(settings, open_sessions(engine), "bench")
    for address in members:
        admin.customers.add(NewCustomer(address))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine), log_level="warning"))
    ready.put(base)
    server.run(sockets=[sock])


def main() -> None:
    """Run the measurement and print one line per kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per kind")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="member-bench-"))
    members = [f"member{n}@bench.example" for n in range(args.requests)]
    ready: Queue = Queue()  # type: ignore[type-arg]
    child = Process(target=_serve, args=(workdir, members, ready), daemon=True)
    child.start()
    try:
        base = ready.get(timeout=120)
        time.sleep(1.0)  # uvicorn binds before serving; the first request may race
        known: list[float] = []
        unknown: list[float] = []
        order = random.Random(7)
        for n, address in enumerate(members):
            pair = [(known, address), (unknown, f"stranger{n}@bench.example")]
            order.shuffle(pair)  # neither kind always follows the other's background work
            for into, asked in pair:
                into.append(_ask(base, asked))
        deadline = time.monotonic() + 30
        while len(list(workdir.glob("mail-*.txt"))) < len(members):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        print(_summary("member's email", known))
        print(_summary("stranger's email", unknown))
        print(f"emails sent: {len(list(workdir.glob('mail-*.txt')))} (expected {len(members)})")
        found = _LINK.search((workdir / "mail-0.txt").read_text())
        assert found is not None
        with httpx.Client(base_url=base) as client:
            page = client.get(found.group(1))
            token = _CSRF.search(page.text)
            token_field = re.search(r'name="token" value="([^"]+)"', page.text)
            assert token is not None and token_field is not None
            client.post(
                "/me/link", data={"token": token_field.group(1), "csrf_token": token.group(1)}
            )
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                assert client.get("/me/").status_code == 200
                times.append((time.perf_counter() - started) * 1000)
        print(_summary("GET /me/ (signed in)", times))
    finally:
        child.terminate()
        child.join(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
