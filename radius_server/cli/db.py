"""``radius-server db ...``: schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json
from radius_server.store import database


def register(subparsers: Any) -> None:
    """Add the ``db`` command group."""
    group = subparsers.add_parser("db", help="database schema")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = sub.add_parser("upgrade", help="apply migrations (SQLite or PostgreSQL)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=cmd_upgrade, creates_database=True)
    status = sub.add_parser("status", help="show the schema revision")
    status.set_defaults(handler=cmd_status)


def cmd_upgrade(ctx: AppContext, args: argparse.Namespace) -> int:
    """db upgrade."""
    database.upgrade(ctx.engine, args.revision)
    revision = database.current_revision(ctx.engine)
    if ctx.json_output:
        print_json({"revision": revision})
    else:
        print(f"database at revision {revision}")
    return 0


def cmd_status(ctx: AppContext, _args: argparse.Namespace) -> int:
    """db status."""
    current = database.current_revision(ctx.engine)
    head = database.head_revision(ctx.engine)
    data = {
        "revision": current,
        "head": head,
        "up_to_date": current == head,
        "backend": ctx.engine.dialect.name,
    }
    if ctx.json_output:
        print_json(data)
    else:
        print(
            f"{data['backend']}: revision {current or 'none'} (newest {head})"
            + ("" if current == head else ": run 'radius-server db upgrade'")
        )
    return 0 if current == head else 1
