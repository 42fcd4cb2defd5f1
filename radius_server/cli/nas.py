"""``radius-server nas ...``: access points and controllers (RADIUS clients)."""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.admin.clients import ClientResult, CoaChange, NewClient, PlanSetup
from radius_server.cli.args import parse_port, yes_no
from radius_server.cli.context import AppContext
from radius_server.cli.hidden_input import add_named_secret_options, add_secret_options, resolve
from radius_server.cli.output import print_fields, print_json, print_table, terminal_text, warn
from radius_server.rules.plans import VENDORS
from radius_server.store.records import ClientRecord


def register(subparsers: Any) -> None:
    """Add the ``nas`` command group."""
    group = subparsers.add_parser("nas", help="manage RADIUS clients (access points)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="allow an access point or controller")
    add.add_argument("name")
    add.add_argument("--address", required=True, help="IP address or CIDR network")
    add_secret_options(add, "default: a strong generated one")
    add.add_argument(
        "--require-message-authenticator",
        type=yes_no,
        default=True,
        metavar="yes|no",
        help="refuse Access-Requests without Message-Authenticator (default yes; BlastRADIUS)",
    )
    _add_coa_options(add, "default none")
    _add_plan_options(add, adding=True)
    add.set_defaults(handler=cmd_add)

    lst = sub.add_parser("list", help="list RADIUS clients")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="show one client")
    show.add_argument("name")
    show.add_argument("--show-secret", action="store_true", help="print the shared secret")
    show.set_defaults(handler=cmd_show)

    remove = sub.add_parser("remove", help="remove a client; its packets are dropped")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)

    rekey = sub.add_parser("set-secret", help="change the shared secret")
    rekey.add_argument("name")
    add_secret_options(rekey, "default: a strong generated one")
    rekey.set_defaults(handler=cmd_set_secret)

    update = sub.add_parser(
        "update", help="change address, Message-Authenticator policy, vendor, location or CoA"
    )
    update.add_argument("name")
    update.add_argument("--address")
    update.add_argument("--require-message-authenticator", type=yes_no, metavar="yes|no")
    group = _add_coa_options(update, "unchanged when not given")
    group.add_argument(
        "--no-coa-secret",
        action="store_true",
        help="sign Disconnect-Requests with the RADIUS secret again",
    )
    _add_plan_options(update, adding=False)
    update.set_defaults(handler=cmd_update)


# What --coa-port takes to mean "this NAS has no dynamic authorization".
_NO_PORT = ("none", "off", "no")


def coa_port(text: str) -> int | None:
    """``--coa-port``: a port 1-65535, or none/off (no Disconnect-Requests)."""
    if text.strip().lower() in _NO_PORT:
        return None
    try:
        return parse_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or none") from None


def _add_coa_options(parser: argparse.ArgumentParser, port_default: str) -> Any:
    """--coa-port and --coa-secret[-file] (RFC 5176 dynamic authorization)."""
    parser.add_argument(
        "--coa-port",
        type=coa_port,
        default=argparse.SUPPRESS,
        metavar="PORT|none",
        help="UDP port where the NAS takes Disconnect-Requests (RFC 5176; commonly 3799), "
        f"or none ({port_default})",
    )
    return add_named_secret_options(
        parser,
        "coa-secret",
        "dynamic authorization secret",
        "default: the RADIUS secret",
    )


def _add_plan_options(parser: argparse.ArgumentParser, *, adding: bool) -> None:
    """--vendor, --location and --coa/--no-coa: how plans reach the NAS."""
    parser.add_argument(
        "--vendor",
        type=str.lower,
        choices=VENDORS,
        default="generic" if adding else None,
        help="how the NAS wants VLAN and bandwidth said" + (" (default generic)" if adding else ""),
    )
    parser.add_argument(
        "--location",
        metavar="NAME|none",
        help="the location it stands at (see 'location list'), or none",
    )
    parser.add_argument(
        "--coa",
        action=argparse.BooleanOptionalAction,
        default=False if adding else None,
        help="it takes CoA-Requests on its dynamic authorization port: plan changes "
        "update sessions in place instead of disconnecting them"
        + (" (default no)" if adding else ""),
    )


def _coa_secret(args: argparse.Namespace) -> str | None:
    return resolve(args.coa_secret, args.coa_secret_file, "dynamic authorization secret")


def _with_location(
    record: ClientRecord, names: dict[int, str], *, with_secret: bool
) -> dict[str, Any]:
    """The record's mapping with its location's name beside the id."""
    data = record.to_dict(include_secret=with_secret)
    data["location"] = names.get(record.location_id) if record.location_id is not None else None
    return data


def _emit(ctx: AppContext, result: ClientResult, headline: str, *, with_secret: bool) -> int:
    for message in result.warnings:
        warn(message)
    names = ctx.admin.locations.names()
    data = _with_location(result.record, names, with_secret=with_secret)
    if ctx.json_output:
        print_json(data)
    else:
        print(terminal_text(headline))
        print_fields(data)
    return 0


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """nas add."""
    result = ctx.admin.clients.add(
        NewClient(
            args.name,
            args.address,
            resolve(args.secret, args.secret_file, "shared secret"),
            require_message_authenticator=args.require_message_authenticator,
            coa_port=getattr(args, "coa_port", None),
            coa_secret=_coa_secret(args),
            vendor=args.vendor,
            location=args.location,
            coa=args.coa,
        )
    )
    # The secret is shown once here: the admin must copy it into the access point.
    return _emit(ctx, result, f"added RADIUS client {result.record.name}", with_secret=True)


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """nas list."""
    names = ctx.admin.locations.names()
    rows = [_with_location(r, names, with_secret=False) for r in ctx.admin.clients.find()]
    if ctx.json_output:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                ("name", "NAME"),
                ("address", "ADDRESS"),
                ("require_message_authenticator", "REQUIRE MSG-AUTH"),
                ("coa_port", "COA PORT"),
                ("coa_secret", "COA SECRET"),
                ("vendor", "VENDOR"),
                ("location", "LOCATION"),
                ("coa", "COA"),
            ],
        )
    return 0


def cmd_show(ctx: AppContext, args: argparse.Namespace) -> int:
    """nas show."""
    record = ctx.admin.clients.get(args.name)
    data = _with_location(record, ctx.admin.locations.names(), with_secret=args.show_secret)
    if ctx.json_output:
        print_json(data)
    else:
        print_fields(data)
    return 0


def cmd_remove(ctx: AppContext, args: argparse.Namespace) -> int:
    """nas remove."""
    record = ctx.admin.clients.remove(args.name)
    if ctx.json_output:
        print_json({"removed": record.name})
    else:
        print(f"removed RADIUS client {record.name}")
    return 0


def cmd_set_secret(ctx: AppContext, args: argparse.Namespace) -> int:
    """nas set-secret."""
    secret = resolve(args.secret, args.secret_file, "shared secret")
    result = ctx.admin.clients.set_secret(args.name, secret)
    return _emit(ctx, result, f"new secret for {result.record.name}", with_secret=True)


def cmd_update(ctx: AppContext, args: argparse.Namespace) -> int:
    """nas update."""
    port_given = hasattr(args, "coa_port")
    coa = CoaChange(
        port=args.coa_port if port_given else None,
        clear_port=port_given and args.coa_port is None,
        secret=_coa_secret(args),
        clear_secret=args.no_coa_secret,
    )
    result = ctx.admin.clients.update(
        args.name,
        address=args.address,
        require_message_authenticator=args.require_message_authenticator,
        coa=coa,
        plans=PlanSetup(vendor=args.vendor, location=args.location, coa=args.coa),
    )
    return _emit(ctx, result, f"updated {result.record.name}", with_secret=False)
