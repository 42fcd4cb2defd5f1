"""``radius-server mail test ADDRESS``: check the SMTP settings with a real message."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, print_json
from radius_server.store.errors import InvalidValue


def register(subparsers: Any) -> None:
    """Add the ``mail`` command group."""
    group = subparsers.add_parser("mail", help="email (SMTP) settings")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="send a test message to check the SMTP settings")
    test.add_argument("address", help="where to send the test message")
    test.set_defaults(handler=cmd_test)


def cmd_test(ctx: AppContext, args: argparse.Namespace) -> int:
    """mail test."""
    try:
        config, delivery = ctx.admin.reminders.send_test(args.address)
    except InvalidValue as exc:
        raise CommandError(str(exc), 2) from None
    if ctx.json_output:
        print_json(
            {
                "recipient": delivery.recipient,
                "status": delivery.status,
                "error": delivery.error,
                "reason": delivery.reason,
                "server": config.describe(),
            }
        )
    elif delivery.ok:
        print(f"sent a test message to {delivery.recipient} via {config.describe()}")
    else:
        print(f"error: sending to {delivery.recipient} failed: {delivery.reason}", file=sys.stderr)
    return 0 if delivery.ok else 1
