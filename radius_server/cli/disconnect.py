"""``radius-server session disconnect EMAIL|ID``: end sessions now (RFC 5176).

Kept apart from cli/session.py's listing commands: that module only registers it.
"""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.admin.disconnects import DEFAULT_WAIT_SECONDS, describe
from radius_server.cli.context import AppContext
from radius_server.cli.output import print_json, terminal_text

EXIT_NOT_ALL = 1


def seconds(text: str) -> float:
    """``--wait``: seconds, 0 to 600."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0-600)")
    return value


def add_parser(sub: Any) -> None:
    """Add ``disconnect`` to the ``session`` group's sub-commands."""
    cmd = sub.add_parser(
        "disconnect",
        help="end a session, or every open session of a member, with a Disconnect-Request",
    )
    cmd.add_argument("target", metavar="EMAIL|ID", help="a member's email or a session id")
    cmd.add_argument(
        "--wait",
        type=seconds,
        default=DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for a running server to send it (default {DEFAULT_WAIT_SECONDS:g})",
    )
    cmd.set_defaults(handler=cmd_disconnect)


def cmd_disconnect(ctx: AppContext, args: argparse.Namespace) -> int:
    """session disconnect."""
    result = ctx.admin.disconnects.disconnect(args.target, wait=args.wait)
    if ctx.json_output:
        print_json({"completed": result.completed, "job": result.job.to_dict()})
    else:
        print(terminal_text(describe(result, args.wait)))
    return 0 if result.all_acked else EXIT_NOT_ALL
