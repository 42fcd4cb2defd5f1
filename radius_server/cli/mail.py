"""``radius-server mail test ADDRESS``: check the SMTP settings with a real message."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, print_json
from radius_server.mail.message import build_message, mailbox
from radius_server.mail.sender import SmtpConfig, SmtpSender
from radius_server.mail.template import Rendered


def register(subparsers: Any) -> None:
    """Add the ``mail`` command group."""
    group = subparsers.add_parser("mail", help="email (SMTP) settings")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="send a test message to check the SMTP settings")
    test.add_argument("address", help="where to send the test message")
    test.set_defaults(handler=cmd_test)


def check_message(config: SmtpConfig, space_name: str) -> Rendered:
    """A message that names the settings in use (never the password) and no PIN."""
    text = (
        f"This is a test message from the {space_name} RADIUS server.\n\n"
        f"It was sent through {config.describe()}\n"
        f"from {config.sender}.\n\n"
        "If you can read it, PIN reminders can be sent with these settings.\n"
    )
    return Rendered(subject=f"Test message from {space_name}", text=text, html=None)


def cmd_test(ctx: AppContext, args: argparse.Namespace) -> int:
    """mail test."""
    config = SmtpConfig.from_settings(ctx.settings)
    try:
        recipient = mailbox(args.address)
    except ValueError as exc:
        raise CommandError(str(exc), 2) from None
    message = build_message(
        check_message(config, ctx.settings.space_name), sender=config.sender, recipient=recipient
    )
    with SmtpSender(config) as sender:
        delivery = sender.send(message)
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
