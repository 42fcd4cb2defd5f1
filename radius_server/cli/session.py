"""``radius-server session ...``: members' sessions as the access points report them."""

from __future__ import annotations

from typing import Any

from radius_server.cli import disconnect


def register(subparsers: Any) -> None:
    """Add the ``session`` command group."""
    group = subparsers.add_parser("session", help="members' sessions (accounting)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    disconnect.add_parser(sub)
