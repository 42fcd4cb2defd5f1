"""``radius-server plan ...``: access plans (VLAN, bandwidth, timeouts, hours, locations)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from radius_server.admin.plans import NewPlan
from radius_server.cli.context import AppContext
from radius_server.cli.output import print_fields, print_json, print_table, terminal_text
from radius_server.rules import plan_text
from radius_server.rules.validation import TextError
from radius_server.store.access_plans import PlanChanges, PlanView, Setting

# Option, field, metavar and help of each optional number of a plan.
_NUMBERS = (
    ("--vlan", "vlan", "N", "VLAN id 1-4094 (RFC 3580 tunnel attributes)"),
    ("--down", "down_kbps", "KBPS", "bandwidth towards the member, kbit/s"),
    ("--up", "up_kbps", "KBPS", "bandwidth from the member, kbit/s"),
    ("--session-timeout", "session_timeout", "S", "longest session, seconds"),
    ("--idle-timeout", "idle_timeout", "S", "idle time before the NAS ends a session, seconds"),
    ("--interim-interval", "interim_interval", "S", "accounting interim interval, seconds"),
    ("--device-limit", "device_limit", "N", "devices online at once (0 = unlimited)"),
)
_LIST_COLUMNS = [
    ("name", "NAME"),
    ("default", "DEFAULT"),
    ("members", "MEMBERS"),
    ("vlan", "VLAN"),
    ("down_kbps", "DOWN"),
    ("up_kbps", "UP"),
    ("hours", "HOURS"),
    ("locations", "LOCATIONS"),
]


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a plan_text parser: its refusal becomes a usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except TextError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _number(field: str) -> Callable[[str], int | None]:
    return _argument(lambda text: plan_text.parse_number(field, text))


def _hours(text: str) -> str | None:
    return None if text.strip().lower() in plan_text.NONE_WORDS else plan_text.check_hours(text)


def _add_plan_options(parser: argparse.ArgumentParser, *, clearing: bool) -> None:
    """The options ``add`` and ``update`` share; on update, ``none`` clears a field."""
    suffix = " (none: not set)" if clearing else ""
    for option, field, metavar, text in _NUMBERS:
        parser.add_argument(
            option,
            dest=field,
            type=_number(field),
            default=argparse.SUPPRESS,
            metavar=f"{metavar}|none" if clearing else metavar,
            help=text + suffix,
        )
    parser.add_argument(
        "--hours",
        type=_argument(_hours),
        default=argparse.SUPPRESS,
        metavar="WINDOWS",
        help="weekly access windows in the NAS location's time zone, e.g. "
        "'Mon-Fri 08:00-19:00; Sat 10:00-14:00'" + suffix,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--locations",
        type=plan_text.split_names,
        metavar="A,B",
        help="valid only at these locations (see 'location list')",
    )
    where.add_argument(
        "--all-locations", action="store_true", help="valid at every location (the default)"
    )
    parser.add_argument(
        "--reply",
        action="append",
        type=_argument(plan_text.parse_reply_attribute),
        metavar="'NAME = VALUE'",
        help="an extra reply attribute by dictionary name, e.g. 'Filter-Id = members' "
        "or 'Tunnel-Private-Group-Id:1 = 20'; repeat for more"
        + ("; replaces the list" if clearing else ""),
    )
    parser.add_argument(
        "--default", action="store_true", help="members without a plan of their own get this one"
    )


def register(subparsers: Any) -> None:
    """Add the ``plan`` command group."""
    group = subparsers.add_parser("plan", help="manage access plans (VLAN, bandwidth, hours)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create a plan")
    add.add_argument("name")
    _add_plan_options(add, clearing=False)
    add.set_defaults(handler=cmd_add)

    lst = sub.add_parser("list", help="list plans with their member counts")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="show one plan: every field, locations, reply attributes")
    show.add_argument("name")
    show.set_defaults(handler=cmd_show)

    update = sub.add_parser("update", help="change a plan; members online get it at once")
    update.add_argument("name")
    update.add_argument("--name", dest="new_name", metavar="NEW", help="rename the plan")
    _add_plan_options(update, clearing=True)
    update.add_argument(
        "--clear-replies", action="store_true", help="remove every extra reply attribute"
    )
    update.set_defaults(handler=cmd_update)

    remove = sub.add_parser("remove", help="remove a plan no member uses")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)


def _settings(args: argparse.Namespace) -> dict[str, Setting]:
    """The optional fields given on the command line (None: clear)."""
    return {f: getattr(args, f) for f in plan_text.OPTIONAL_FIELDS if hasattr(args, f)}


def _for_people(view: PlanView) -> dict[str, Any]:
    """A plan for a table or ``key: value`` lines."""
    data = view.to_dict()
    locations = data["locations"]
    data["locations"] = "all" if locations is None else (", ".join(locations) or "none")
    data["hours"] = data["hours"] or "any time"
    data.pop("reply_attributes")
    return data


def _print_plan(view: PlanView) -> None:
    """``key: value`` lines, then one line per reply attribute."""
    data = _for_people(view)
    replies = [plan_text.format_reply_attribute(*pair) for pair in view.record.reply_attributes]
    data["reply_attributes"] = replies[0] if replies else None
    print_fields(data)
    width = max(len(key) for key in data)
    for line in replies[1:]:
        print(f"{'':{width}}  {terminal_text(line)}")


def _emit(ctx: AppContext, view: PlanView, headline: str) -> int:
    if ctx.json_output:
        print_json(view.to_dict())
    else:
        print(terminal_text(headline))
        _print_plan(view)
    return 0


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """plan add."""
    view = ctx.admin.plans.add(
        NewPlan(
            args.name,
            _settings(args),
            locations=None if args.all_locations else args.locations,
            reply_attributes=tuple(args.reply or ()),
            default=args.default,
        )
    )
    return _emit(ctx, view, f"added plan {view.record.name}")


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """plan list."""
    views = ctx.admin.plans.find()
    if ctx.json_output:
        print_json([v.to_dict() for v in views])
    else:
        print_table([_for_people(v) for v in views], _LIST_COLUMNS)
    return 0


def cmd_show(ctx: AppContext, args: argparse.Namespace) -> int:
    """plan show."""
    view = ctx.admin.plans.show(args.name)
    if ctx.json_output:
        print_json(view.to_dict())
    else:
        _print_plan(view)
    return 0


def cmd_update(ctx: AppContext, args: argparse.Namespace) -> int:
    """plan update."""
    # --reply replaces the list ("--clear-replies --reply X" too); --clear-replies alone empties it.
    replies = tuple(args.reply) if args.reply else (() if args.clear_replies else None)
    changes = PlanChanges(
        name=args.new_name,
        settings=_settings(args),
        locations=args.locations,
        all_locations=args.all_locations,
        reply_attributes=replies,
        make_default=args.default,
    )
    view = ctx.admin.plans.update(args.name, changes)
    return _emit(ctx, view, f"updated plan {view.record.name}")


def cmd_remove(ctx: AppContext, args: argparse.Namespace) -> int:
    """plan remove."""
    record = ctx.admin.plans.remove(args.name)
    if ctx.json_output:
        print_json({"removed": record.name})
    else:
        print(terminal_text(f"removed plan {record.name}"))
    return 0
