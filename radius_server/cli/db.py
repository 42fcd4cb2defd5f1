"""``radius-server db ...``: schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.admin.schema import schema_status, upgrade_schema
from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json


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
    revision = upgrade_schema(ctx.engine, args.revision)
    if ctx.json_output:
        print_json({"revision": revision})
    else:
        print(f"database at revision {revision}")
    return 0


def cmd_status(ctx: AppContext, _args: argparse.Namespace) -> int:
    """db status."""
    status = schema_status(ctx.engine)
    current, head = status.revision, status.head
    data = {
        "revision": current,
        "head": head,
        "up_to_date": status.up_to_date,
        "backend": status.backend,
    }
    if ctx.json_output:
        print_json(data)
    else:
        print(
            f"{data['backend']}: revision {current or 'none'} (newest {head})"
            + ("" if current == head else ": run 'radius-server db upgrade'")
        )
    return 0 if status.up_to_date else 1
