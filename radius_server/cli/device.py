"""``radius-server device add|list|remove``: devices staff make known for a member.

A known device is judged only by its own budget (see rules/throttle.py), so a device
registered here gets on even while a location or the whole site is in
defensive mode: the way in for a newcomer while someone in radio range keeps
unknown devices out. Registration is a success event in the shared log, so
every server knows the device within a second, and it ages like a device that
signed in itself (known_device_days after its last sign-in).
"""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json, print_table, utc_seconds


def register(subparsers: Any) -> None:
    """Add the ``device`` command group."""
    group = subparsers.add_parser("device", help="devices known for a member (guessing protection)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="make a device known for a member, on every server")
    add.add_argument("email")
    add.add_argument("mac", help="the device's MAC address, any notation")
    add.set_defaults(handler=cmd_add)
    lst = sub.add_parser("list", help="known devices (of one member, or everyone)")
    lst.add_argument("email", nargs="?")
    lst.set_defaults(handler=cmd_list)
    remove = sub.add_parser("remove", help="forget a device for a member")
    remove.add_argument("email")
    remove.add_argument("mac")
    remove.set_defaults(handler=cmd_remove)


def _done(ctx: AppContext, key: str, user: str, device: str, text: str) -> int:
    """Say what was done: ``{key: {email, device}}`` in JSON, else ``text``."""
    if ctx.json_output:
        print_json({key: {"email": user, "device": device}})
    else:
        print(text)
    return 0


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """device add EMAIL MAC."""
    user, device = ctx.admin.guessing.add_device(args.email, args.mac)
    said = f"{device} is now a known device of {user} (on every server within a second)"
    return _done(ctx, "added", user, device, said)


def cmd_list(ctx: AppContext, args: argparse.Namespace) -> int:
    """device list [EMAIL]."""
    rows = [
        {
            "email": known.email,
            "device": known.device,
            "last_seen": utc_seconds(known.last_seen),
            "until": utc_seconds(known.until),
        }
        for known in ctx.admin.guessing.devices(args.email)
    ]
    if ctx.json_output:
        print_json({"devices": rows})
    elif rows:
        print_table(
            rows,
            [("email", "EMAIL"), ("device", "DEVICE"), ("last_seen", "SINCE"), ("until", "UNTIL")],
        )
    else:
        print("no known devices")
    return 0


def cmd_remove(ctx: AppContext, args: argparse.Namespace) -> int:
    """device remove EMAIL MAC."""
    user, device = ctx.admin.guessing.remove_device(args.email, args.mac)
    return _done(ctx, "removed", user, device, f"{device} is no longer a known device of {user}")
