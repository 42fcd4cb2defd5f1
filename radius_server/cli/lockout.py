"""``radius-server lockout list|clear``: guessing-protection locks, as every server sees them."""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json, print_table, utc_seconds


def register(subparsers: Any) -> None:
    """Add the ``lockout`` command group."""
    group = subparsers.add_parser("lockout", help="guessing-protection locks")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="current locks and recent failures")
    lst.set_defaults(handler=cmd_list)
    clear = sub.add_parser("clear", help="lift the locks on a member (the PIN is unchanged)")
    clear.add_argument("email")
    clear.set_defaults(handler=cmd_clear)


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """lockout list."""
    report = ctx.admin.guessing.lockouts()
    rows = [
        {"scope": lock.scope, "key": lock.key, "until": utc_seconds(lock.until)}
        for lock in report.locks
    ]
    failures = [
        {"user": f.user, "failures": f.failures, "budget": f.budget}
        for f in report.users_with_failures
    ]
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
    user = ctx.admin.guessing.clear(args.email)
    if ctx.json_output:
        print_json({"cleared": user})
    else:
        print(f"cleared locks on {user} (the PIN is unchanged)")
    return 0
