"""Micro-benchmark of the engine on the hot path: PAP and CHAP through ``Engine.handle_auth``.

Unlike ``protocol_micro.py`` this runs the whole decision path in process: client
match, reply cache, decode, authenticity, the method, the member rules, guessing
protection (an in-memory ``Guard``), the device count (an ``OnlineDevices`` view; each
member signs in again and again from one phone, as a NAS re-authenticates) and the log
call (to a logger that drops everything). Prints microseconds per request, best of
several rounds. With ``--plans`` the members are on access plans (as ``run.py --plans``:
alternately a desk with a VLAN, bandwidth and a reply attribute, and a hot desk with hours
and a location list besides) and the client is a MikroTik at the plans' location.

    .venv/bin/python bench/engine_micro.py [requests] [--plans]
"""

from __future__ import annotations

import argparse
import time
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


# The plans of ``--plans`` (bench/run.py BENCH_PLANS, as definitions): the hours cover the
# whole week, so every request evaluates them and still gets the PIN's verdict.
LOCATION = Location(1, "hq", "Europe/Madrid")
PLANS = (
    PlanDefinition(1, "default", is_default=True),
    PlanDefinition(
        2,
        "desk",
        vlan=20,
        down_kbps=10000,
        up_kbps=2000,
        reply_attributes=(("Filter-Id", "members"),),
    ),
    PlanDefinition(
        3,
        "hotdesk",
        vlan=30,
        down_kbps=5000,
        up_kbps=1000,
        hours="Mon-Sun 00:00-24:00",
        location_ids=frozenset({LOCATION.id}),
    ),
)


def build(
    members: int = 1000, settings: ThrottleSettings = UNLIMITED, plans: bool = False
) -> Engine:
    """An engine over ``members`` members and one client, with guessing protection;
    ``plans``: members alternately on the two plans, the client a MikroTik at LOCATION."""
    directory = Directory()
    directory.ready = True
    if plans:
        directory.plans.replace_all(compile_plan(d) for d in PLANS)
        directory.locations = {LOCATION.id: LOCATION}
        client = Client(
            1, "ap", ip_network(NAS), SECRET, True, vendor="mikrotik", location_id=LOCATION.id
        )
    else:
        client = Client(1, "ap", ip_network(NAS), SECRET, True)
    directory.clients.put(client)
    for i in range(members):
        plan_id = (2 + i % 2) if plans else None
        directory.members.put(
            Member(i, f"m{i}@example.org", PIN, True, True, None, None, None, None, plan_id=plan_id)
        )
    log = NullLog()
    return Engine(directory, log, guard=Guard(settings, log, store=None), online=OnlineDevices())


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
    method: str, count: int, rounds: int = 5, pin: bytes = PIN, plans: bool = False
) -> float:
    """Best microseconds per request over ``rounds`` runs of ``count`` requests."""
    best = float("inf")
    for _ in range(rounds):
        engine = build(plans=plans)
        packets = requests(count, method, pin)
        handle = engine.handle_auth
        start = time.perf_counter()
        for port, packet in enumerate(packets):
            assert handle(packet, (NAS, 1024 + port)) is not None
        best = min(best, (time.perf_counter() - start) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description="The engine's cost per request, in process.")
    parser.add_argument("requests", type=int, nargs="?", default=20000)
    parser.add_argument("--plans", action="store_true", help="members on access plans")
    args = parser.parse_args()
    count, plans = args.requests, args.plans
    for method in ("pap", "chap"):
        cost = measure(method, count, plans=plans)
        print(f"{method}: {cost:.2f} us/request (accept, best of 5)")
    wrong = measure("pap", count, pin=b"11111", plans=plans)
    print(f"pap wrong PIN: {wrong:.2f} us/request (reject, counted, best of 5)")


if __name__ == "__main__":
    main()
