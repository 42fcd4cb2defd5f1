"""``radius-server token create|list|revoke``: bearer tokens of the HTTP API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radius_server.cli.args import when
from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json, print_table
from radius_server.rules.roles import ROLE_NAMES, Role
from radius_server.store.journal import utcnow


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> None:
    """Add the ``token`` command group."""
    group = subparsers.add_parser("token", help="bearer tokens of the HTTP API")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="make a token (printed once, stored hashed)")
    create.add_argument("name", help="who uses it; the actor in the audit trail (token:NAME)")
    create.add_argument(
        "--role", type=_role, required=True, metavar="|".join(ROLE_NAMES), help="what it may do"
    )
    create.add_argument(
        "--expires", type=when, metavar="DATE", help="last day it works (YYYY-MM-DD) or an instant"
    )
    create.set_defaults(handler=cmd_create)
    lst = sub.add_parser("list", help="tokens, never their values")
    lst.set_defaults(handler=cmd_list)
    revoke = sub.add_parser("revoke", help="stop a token at once")
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_revoke)


def cmd_create(ctx: AppContext, args: argparse.Namespace) -> int:
    """token create NAME --role ROLE [--expires DATE]."""
    record, token = ctx.admin.tokens.create(args.name, args.role, args.expires)
    if ctx.json_output:
        print_json({**record.to_dict(), "token": token})
        return 0
    # The token alone on stdout (TOKEN=$(radius-server token create ...)); the note
    # on stderr, where a person still reads it.
    print(token)
    print(
        f"# token {record.name!r} ({record.role.label}) created; it is shown only now: "
        "send it as 'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """token list."""
    now = utcnow()
    rows = []
    for record in ctx.admin.tokens.list():
        data = record.to_dict()
        data["state"] = (
            "revoked" if record.revoked_at else "active" if record.usable(now) else "expired"
        )
        rows.append(data)
    if ctx.json_output:
        print_json(rows)
    elif rows:
        print_table(
            rows,
            [
                ("name", "NAME"),
                ("role", "ROLE"),
                ("state", "STATE"),
                ("prefix", "STARTS WITH"),
                ("expires_at", "EXPIRES"),
                ("last_used_at", "LAST USED"),
            ],
        )
    else:
        print("no tokens")
    return 0


def cmd_revoke(ctx: AppContext, args: argparse.Namespace) -> int:
    """token revoke NAME."""
    before = next((t for t in ctx.admin.tokens.list() if t.name == args.name.strip()), None)
    record = ctx.admin.tokens.revoke(args.name)
    if ctx.json_output:
        print_json(record.to_dict())
    elif before is not None and before.revoked_at is not None:
        print(f"token {record.name!r} was already revoked")
    else:
        print(f"revoked token {record.name!r}")
    return 0
