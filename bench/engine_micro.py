"""Micro-benchmark of the engine on the hot path: PAP and CHAP through ``Engine.handle_auth``.

Unlike ``protocol_micro.py`` this runs the whole decision path in process: client
match, reply cache, decode, authenticity, the method, the member rules, guessing
protection (an in-memory ``Guard``), the device count (an ``OnlineDevices`` view; each
member signs in again and again from one phone, as a NAS re-authenticates) and the log
call (to a logger that drops everything). Prints microseconds per request, best of
several rounds.

The plan rows add the member's access plan: the default one (nothing set), and
one with VLAN, bandwidth and access hours at a NAS with a location (a clock placed
inside the hours, so every sign-in is accepted).

    .venv/bin/python bench/engine_micro.py [requests]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from ipaddress import ip_network
from typing import Any

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request
from radius_server.rules.directory import Client, Directory, Member
from radius_server.rules.online import OnlineDevices
from radius_server.rules.plans import Location, PlanDefinition, compile_plan
from radius_server.rules.throttle import ThrottleSettings
from radius_server.runtime.engine import Engine
from radius_server.runtime.guard import Guard

SECRET = b"bench-shared-secret"
NAS = "192.0.2.10"
PIN = b"48213"


class NullLog:
    """A structlog-like logger that drops everything."""

    def _drop(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _drop


# Budgets no run exhausts: every wrong PIN is checked and counted, none answered by a lock.
UNLIMITED = ThrottleSettings(
    user_budget=10**9, station_budget=10**9, location_budget=10**9, global_budget=10**9
)


# The plans a run may give every member (None: no plans at all, as before plans existed).
PLANS = {
    "default": PlanDefinition(1, "default", is_default=True),
    "vlan+bandwidth+hours": PlanDefinition(
        2,
        "desk",
        vlan=20,
        down_kbps=20000,
        up_kbps=5000,
        hours="Mon-Fri 08:00-19:00",
        location_ids=frozenset({1}),
    ),
}


def _inside_hours() -> Callable[[], float]:
    """A clock running from a Wednesday 10:00 in Madrid, at the real pace."""
    base = datetime.fromisoformat("2026-12-02T10:00:00+01:00").timestamp()
    started = time.time()
    return lambda: base + (time.time() - started)


def build(
    members: int = 1000, settings: ThrottleSettings = UNLIMITED, plan: str | None = None
) -> Engine:
    """An engine over ``members`` members and one client, with guessing protection."""
    directory = Directory()
    directory.ready = True
    directory.clients.put(
        Client(1, "ap", ip_network(NAS), SECRET, True, vendor="mikrotik", location_id=1)
    )
    directory.locations = {1: Location(1, "madrid", "Europe/Madrid")}
    plan_id = None
    if plan is not None:
        compiled = compile_plan(PLANS[plan])
        directory.plans.replace_all([compile_plan(PLANS["default"]), compiled])
        plan_id = compiled.id
    for i in range(members):
        directory.members.put(
            Member(i, f"m{i}@example.org", PIN, True, True, None, None, None, None, plan_id=plan_id)
        )
    log = NullLog()
    clock = _inside_hours() if plan is not None else time.time
    return Engine(
        directory, log, guard=Guard(settings, log, store=None), online=OnlineDevices(), clock=clock
    )


def phone(member: int) -> bytes:
    """The Calling-Station-Id of a member's one phone, in the usual notation of NASes."""
    return f"02-00-00-00-{member // 256:02X}-{member % 256:02X}".encode()


def requests(count: int, method: str, pin: bytes = PIN) -> list[bytes]:
    """``count`` distinct Access-Requests (fresh authenticators: no cache hits)."""
    return [
        encode_request(
            SECRET,
            identifier=i % 256,
            user_name=f"m{i % 1000}@example.org",
            password=pin,
            method=method,  # type: ignore[arg-type]
            # One phone per member: its MAC in the NAS's usual notation.
            attributes=[(c.CALLING_STATION_ID, phone(i % 1000))],
        ).packet
        for i in range(count)
    ]


def measure(
    method: str, count: int, rounds: int = 5, pin: bytes = PIN, plan: str | None = None
) -> float:
    """Best microseconds per request over ``rounds`` runs of ``count`` requests."""
    best = float("inf")
    for _ in range(rounds):
        engine = build(plan=plan)
        packets = requests(count, method, pin)
        handle = engine.handle_auth
        start = time.perf_counter()
        for port, packet in enumerate(packets):
            assert handle(packet, (NAS, 1024 + port)) is not None
        best = min(best, (time.perf_counter() - start) / count * 1e6)
    return best


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    for method in ("pap", "chap"):
        print(f"{method}: {measure(method, count):.2f} us/request (accept, best of 5)")
    wrong = measure("pap", count, pin=b"11111")
    print(f"pap wrong PIN: {wrong:.2f} us/request (reject, counted, best of 5)")
    for plan in PLANS:
        took = measure("pap", count, plan=plan)
        print(f"pap, plan {plan}: {took:.2f} us/request (accept, best of 5)")


if __name__ == "__main__":
    main()
