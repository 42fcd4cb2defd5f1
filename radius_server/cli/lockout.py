"""``radius-server lockout list|clear``: guessing-protection locks, as every server sees them."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json, print_table
from radius_server.guard import throttle_settings
from radius_server.store.customers import normalize_email
from radius_server.store.journal import audit
from radius_server.store.throttle_log import ThrottleLog
from radius_server.throttle import DAY, EventKind, Throttle, ThrottleEvent


def register(subparsers: Any) -> None:
    """Add the ``lockout`` command group."""
    group = subparsers.add_parser("lockout", help="guessing-protection locks")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="current locks and recent failures")
    lst.set_defaults(handler=cmd_list)
    clear = sub.add_parser("clear", help="lift the locks on a member (the PIN is unchanged)")
    clear.add_argument("email")
    clear.set_defaults(handler=cmd_clear)


def replay(ctx: AppContext, now: float) -> Throttle:
    """Rebuild the shared state from the database, as a starting server would."""
    settings = throttle_settings(ctx.settings)
    log = ThrottleLog(ctx.sessions, "cli")
    longest = max(
        settings.user_window,
        settings.device_window,
        settings.station_window,
        settings.location_window,
        settings.global_window,
    )
    throttle = Throttle(settings)
    throttle.load(log.history(now - longest, now - settings.known_device_days * DAY))
    return throttle


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """lockout list."""
    now = time.time()
    throttle = replay(ctx, now)
    settings = throttle.settings
    rows = [
        {"scope": scope.value, "key": key, "until": _iso(until)}
        for scope, key, until in sorted(throttle.locks(now), key=lambda r: (r[0], r[1]))
    ]
    failures = sorted(
        (
            {
                "user": user,
                "failures": window.count(now, settings.user_window),
                "budget": settings.user_budget,
            }
            for user, window in throttle.users.items()
        ),
        key=lambda r: -r["failures"],
    )
    failures = [f for f in failures if f["failures"]]
    if ctx.json_output:
        print_json({"locks": rows, "users_with_failures": failures})
        return 0
    if rows:
        print_table(rows, [("scope", "SCOPE"), ("key", "WHO"), ("until", "UNTIL")])
    else:
        print("no locks")
    if failures:
        print()
        print_table(
            failures[:50],
            [("user", "USER"), ("failures", "FAILURES (UNKNOWN DEVICES)"), ("budget", "BUDGET")],
        )
    return 0


def cmd_clear(ctx: AppContext, args: argparse.Namespace) -> int:
    """lockout clear EMAIL: every server drops this member's failure counts within a second."""
    user = normalize_email(args.email)
    ThrottleLog(ctx.sessions, "cli").append([ThrottleEvent(EventKind.CLEAR, time.time(), user)])
    with ctx.sessions() as session:
        audit(session, ctx.actor, "lockout.clear", user)
        session.commit()
    if ctx.json_output:
        print_json({"cleared": user})
    else:
        print(f"cleared locks on {user} (the PIN is unchanged)")
    return 0
