"""``radius-server device add|list|remove``: devices staff make known for a member.

A known device is judged only by its own budget (see throttle.py), so a device
registered here gets on even while a location or the whole site is in
defensive mode: the way in for a newcomer while someone in radio range keeps
unknown devices out. Registration is a success event in the shared log, so
every server knows the device within a second, and it ages like a device that
signed in itself (known_device_days after its last sign-in).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.lockout import replay
from radius_server.cli.output import print_json, print_table
from radius_server.store.customers import normalize_email
from radius_server.store.errors import InvalidValue, NotFound
from radius_server.store.journal import audit
from radius_server.store.throttle_log import ThrottleLog
from radius_server.throttle import DAY, EventKind, ThrottleEvent, normalize_station


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


def _mac(text: str) -> str:
    """A MAC address in the notation guessing protection keys devices by."""
    device = normalize_station(text)
    if device is None or len(device) != 17 or device.count(":") != 5:
        raise InvalidValue(f"not a MAC address: {text.strip()[:40]!r}")
    return device


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _record(ctx: AppContext, kind: EventKind, args: argparse.Namespace, done: str) -> int:
    """Share one registration or removal with every server, audit it, say so."""
    user = normalize_email(args.email)
    device = _mac(args.mac)
    now = time.time()
    if kind is EventKind.SUCCESS:
        ctx.customers.get(user)  # NotFound names the email: no devices for strangers
    elif not replay(ctx, now).is_known(user, device, now):
        raise NotFound(f"{device} is not a known device of {user}")
    ThrottleLog(ctx.sessions, "cli").append([ThrottleEvent(kind, now, user, device, known=True)])
    action = "device.add" if kind is EventKind.SUCCESS else "device.remove"
    with ctx.sessions() as session:
        audit(session, ctx.actor, action, user, device=device)
        session.commit()
    if ctx.json_output:
        print_json({done: {"email": user, "device": device}})
    elif kind is EventKind.SUCCESS:
        print(f"{device} is now a known device of {user} (on every server within a second)")
    else:
        print(f"{device} is no longer a known device of {user}")
    return 0


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """device add EMAIL MAC."""
    return _record(ctx, EventKind.SUCCESS, args, "added")


def cmd_list(ctx: AppContext, args: argparse.Namespace) -> int:
    """device list [EMAIL]."""
    now = time.time()
    only = normalize_email(args.email) if args.email else None
    throttle = replay(ctx, now)
    keep = throttle.settings.known_device_days * DAY
    rows = [
        {"email": user, "device": device, "last_seen": _iso(seen), "until": _iso(seen + keep)}
        for user, devices in sorted(throttle.known.items())
        if only in (None, user)
        for device, seen in sorted(devices.items(), key=lambda kv: -kv[1])
        if throttle.is_known(user, device, now)
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
    return _record(ctx, EventKind.FORGET, args, "removed")
