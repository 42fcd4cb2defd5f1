"""``radius-server session ...``: accounting sessions (who is on, from where, how much).

One function per sub-command; each calls one ``Admin.accounting`` method and prints.
"""

from __future__ import annotations

import argparse
from datetime import datetime, tzinfo
from typing import Any

from radius_server.admin.sessions import SessionQuery
from radius_server.cli import disconnect
from radius_server.cli.context import AppContext
from radius_server.cli.output import (
    human_bytes,
    human_duration,
    print_fields,
    print_json,
    print_table,
)
from radius_server.store.records import SessionRecord

_LIST_COLUMNS = [
    ("id", "ID"),
    ("user", "USER"),
    ("nas", "NAS"),
    ("station", "STATION"),
    ("ip", "IP"),
    ("started", "STARTED"),
    ("duration", "DURATION"),
    ("input", "IN"),
    ("output", "OUT"),
    ("state", "STATE"),
]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(subparsers: Any) -> None:
    """Add the ``session`` command group."""
    group = subparsers.add_parser("session", help="accounting sessions: who is on, how much")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    lst = sub.add_parser("list", help="sessions, newest first")
    lst.add_argument("--online", action="store_true", help="open sessions only")
    lst.add_argument("--user", metavar="EMAIL", help="one member's sessions")
    lst.add_argument("--nas", metavar="NAME", help="sessions on one RADIUS client")
    lst.add_argument(
        "--limit", type=_positive, default=100, metavar="N", help="at most N (default 100)"
    )
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="one session in full")
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(handler=cmd_show)

    disconnect.add_parser(sub)


def _local(instant: datetime | None, zone: tzinfo) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def _state(record: SessionRecord) -> str:
    return "online" if record.online else f"closed ({record.close_reason or 'stop'})"


def _row(record: SessionRecord, now: datetime, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": record.id,
        "user": record.member_email or record.user_name or None,
        "nas": record.client_name,
        "station": record.calling_station_id,
        "ip": record.framed_ip_address,
        "started": record.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "duration": human_duration(record.duration(now)),
        "input": human_bytes(record.input_octets),
        "output": human_bytes(record.output_octets),
        "state": _state(record),
    }


def cmd_list(ctx: AppContext, args: argparse.Namespace) -> int:
    """session list [--online] [--user EMAIL] [--nas NAME] [--limit N]."""
    result = ctx.admin.accounting.list(
        SessionQuery(
            online=args.online, member_email=args.user, client_name=args.nas, limit=args.limit
        )
    )
    if ctx.json_output:
        print_json([r.to_dict(result.at) for r in result.sessions])
        return 0
    if not result.sessions:
        print("no sessions")
        return 0
    zone = ctx.settings.zone()
    print_table([_row(r, result.at, zone) for r in result.sessions], _LIST_COLUMNS)
    more = f" (more: raise --limit above {args.limit})" if result.more else ""
    print(f"{len(result.sessions)} session(s){more}")
    return 0


def cmd_show(ctx: AppContext, args: argparse.Namespace) -> int:
    """session show ID."""
    record = ctx.admin.accounting.get(args.id)
    now = datetime.now(record.started_at.tzinfo)
    if ctx.json_output:
        print_json(record.to_dict(now))
        return 0
    zone = ctx.settings.zone()
    print_fields(
        {
            "id": record.id,
            "state": _state(record),
            "member": record.member_email,
            "user_name": record.user_name,
            "nas": record.client_name,
            "nas_address": record.nas_address,
            "nas_ip_address": record.nas_ip_address,
            "nas_identifier": record.nas_identifier,
            "nas_port": record.nas_port,
            "acct_session_id": record.acct_session_id,
            "station": record.calling_station_id,
            "called_station": record.called_station_id,
            "ip": record.framed_ip_address,
            "started": _local(record.started_at, zone),
            "last_update": _local(record.updated_at, zone),
            "stopped": _local(record.stopped_at, zone),
            "duration": human_duration(record.duration(now)),
            "session_time": human_duration(record.session_time),
            "input": f"{human_bytes(record.input_octets)} ({record.input_octets} octets, "
            f"{record.input_packets} packets)",
            "output": f"{human_bytes(record.output_octets)} ({record.output_octets} octets, "
            f"{record.output_packets} packets)",
            "terminate_cause": record.terminate_cause,
        }
    )
    return 0
