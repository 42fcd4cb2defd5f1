"""``radius-server location ...``: the sites of the space and their time zones."""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import print_fields, print_json, print_table, terminal_text
from radius_server.store.locations import LocationView
from radius_server.store.records import LocationRecord


def register(subparsers: Any) -> None:
    """Add the ``location`` command group."""
    group = subparsers.add_parser("location", help="manage locations (sites and time zones)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create a location")
    add.add_argument("name")
    add.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA time zone plans' hours are read in, e.g. Europe/Madrid "
        "(default: the setting timezone)",
    )
    add.set_defaults(handler=cmd_add)

    lst = sub.add_parser("list", help="list locations with the NAS and plans using them")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="show one location")
    show.add_argument("name")
    show.set_defaults(handler=cmd_show)

    update = sub.add_parser("update", help="rename a location or change its time zone")
    update.add_argument("name")
    update.add_argument("--name", dest="new_name", metavar="NEW", help="rename it")
    update.add_argument("--timezone", metavar="ZONE", help="a new IANA time zone")
    update.set_defaults(handler=cmd_update)

    remove = sub.add_parser("remove", help="remove a location no NAS or plan uses")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)


def _for_people(view: LocationView) -> dict[str, Any]:
    data = view.to_dict()
    data["nas"] = ", ".join(view.clients) or None
    data["plans"] = ", ".join(view.plans) or None
    return data


def _emit(ctx: AppContext, record: LocationRecord, headline: str) -> int:
    if ctx.json_output:
        print_json(record.to_dict())
    else:
        print(terminal_text(headline))
        print_fields(record.to_dict())
    return 0


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """location add."""
    record = ctx.admin.locations.add(args.name, args.timezone)
    return _emit(ctx, record, f"added location {record.name}")


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """location list."""
    views = ctx.admin.locations.find()
    if ctx.json_output:
        print_json([v.to_dict() for v in views])
    else:
        print_table(
            [_for_people(v) for v in views],
            [("name", "NAME"), ("timezone", "TIMEZONE"), ("nas", "NAS"), ("plans", "PLANS")],
        )
    return 0


def cmd_show(ctx: AppContext, args: argparse.Namespace) -> int:
    """location show."""
    view = ctx.admin.locations.show(args.name)
    if ctx.json_output:
        print_json(view.to_dict())
    else:
        print_fields(_for_people(view))
    return 0


def cmd_update(ctx: AppContext, args: argparse.Namespace) -> int:
    """location update."""
    record = ctx.admin.locations.update(args.name, new_name=args.new_name, timezone=args.timezone)
    return _emit(ctx, record, f"updated location {record.name}")


def cmd_remove(ctx: AppContext, args: argparse.Namespace) -> int:
    """location remove."""
    record = ctx.admin.locations.remove(args.name)
    if ctx.json_output:
        print_json({"removed": record.name})
    else:
        print(terminal_text(f"removed location {record.name}"))
    return 0
