"""``radius-server customer ...``: the customer directory and PIN lifecycle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from radius_server.admin.customers import CustomerResult, CustomerUpdate, NewCustomer
from radius_server.cli.args import when, yes_no
from radius_server.cli.context import AppContext
from radius_server.cli.hidden_input import ARGV_NOTE, STDIN, read_stdin, resolve
from radius_server.cli.output import (
    CommandError,
    print_fields,
    print_json,
    print_table,
    terminal_text,
    warn,
)
from radius_server.private_files import open_private_text
from radius_server.rules.validation import DEFAULT_WORD, parse_device_limit
from radius_server.rules.validity import show_end, show_start
from radius_server.store.records import CustomerRecord

_LIST_COLUMNS = [
    ("email", "EMAIL"),
    ("name", "NAME"),
    ("active", "ACTIVE"),
    ("wifi_access", "WIFI"),
    ("valid_until", "VALID UNTIL"),
    ("plan", "PLAN"),
]


def register(subparsers: Any) -> None:
    """Add the ``customer`` command group."""
    group = subparsers.add_parser("customer", help="manage customers and their PINs")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create a customer; a random PIN is assigned")
    add.add_argument("email")
    add.add_argument("--name", default="", help="full name")
    add.add_argument(
        "--pin",
        help=f"use this 5-digit PIN instead of a random one; - reads it from standard input "
        f"({ARGV_NOTE})",
    )
    add.add_argument("--no-wifi", action="store_true", help="create without Wi-Fi access")
    add.add_argument("--disabled", action="store_true", help="create disabled")
    add.add_argument("--valid-from", type=when, metavar="DATE")
    add.add_argument("--valid-until", type=when, metavar="DATE")
    add.add_argument("--plan", metavar="NAME", help="access plan (default: the default plan)")
    add.set_defaults(handler=cmd_add)

    lst = sub.add_parser("list", help="list customers")
    state = lst.add_mutually_exclusive_group()
    state.add_argument("--active", dest="active", action="store_true", default=None)
    state.add_argument("--disabled", dest="active", action="store_false")
    lst.add_argument("--wifi", type=yes_no, metavar="yes|no", help="filter on Wi-Fi access")
    lst.add_argument("--search", help="substring of email or name")
    lst.add_argument(
        "--plan",
        metavar=f"NAME|{DEFAULT_WORD}",
        help="members who get this plan (the default plan's include members without one)",
    )
    lst.add_argument("--show-pins", action="store_true", help="include PINs")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="show one customer, PIN included")
    show.add_argument("email")
    show.set_defaults(handler=cmd_show)

    set_pin = sub.add_parser("set-pin", help="change a customer's PIN (5 digits, unique)")
    set_pin.add_argument("email")
    set_pin.add_argument(
        "pin", help=f"the new PIN, or - to read it from standard input ({ARGV_NOTE})"
    )
    set_pin.set_defaults(handler=cmd_set_pin)

    regen = sub.add_parser("regenerate-pin", help="give a customer a new random PIN")
    regen.add_argument("email")
    regen.set_defaults(handler=cmd_regenerate_pin)

    for name, active in (("disable", False), ("enable", True)):
        toggle = sub.add_parser(name, help=f"{name} a customer (PIN kept)")
        toggle.add_argument("email")
        toggle.set_defaults(
            handler=cmd_update,
            active=active,
            name=None,
            wifi=None,
            valid_from=None,
            valid_until=None,
            clear_valid_from=False,
            clear_valid_until=False,
            device_limit=None,
            plan=None,
        )

    update = sub.add_parser(
        "update", help="change name, Wi-Fi access, validity dates or device limit"
    )
    update.add_argument("email")
    update.add_argument("--name")
    update.add_argument("--wifi", type=yes_no, metavar="yes|no", help="Wi-Fi access")
    update.add_argument("--valid-from", type=when, metavar="DATE")
    update.add_argument("--valid-until", type=when, metavar="DATE")
    update.add_argument("--clear-valid-from", action="store_true")
    update.add_argument("--clear-valid-until", action="store_true")
    update.add_argument(
        "--device-limit",
        metavar=f"N|{DEFAULT_WORD}",
        help=f"devices online at once (0 = unlimited); {DEFAULT_WORD}: the setting device_limit",
    )
    update.add_argument(
        "--plan",
        metavar=f"NAME|{DEFAULT_WORD}",
        help=f"access plan; {DEFAULT_WORD}: the default plan (members online get it at once)",
    )
    update.set_defaults(handler=cmd_update, active=None)

    remove = sub.add_parser("remove", help="delete a customer; the PIN stops working")
    remove.add_argument("email")
    remove.set_defaults(handler=cmd_remove)

    imp = sub.add_parser("import", help="upsert customers from CSV (all or nothing)")
    imp.add_argument("file", help="CSV path, or - for standard input")
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    imp.set_defaults(handler=cmd_import)

    exp = sub.add_parser("export", help="write customers as CSV")
    exp.add_argument("file", nargs="?", default="-", help="CSV path (default: standard output)")
    exp.add_argument("--without-pin", action="store_true", help="leave the PIN column out")
    exp.set_defaults(handler=cmd_export)

    history = sub.add_parser("history", help="audit trail of admin actions")
    history.add_argument("email", nargs="?", help="only actions on this customer")
    history.add_argument("--limit", type=int, default=50)
    history.set_defaults(handler=cmd_history)


class _PlanNames:
    """Plan names for showing customers, read once per command."""

    def __init__(self, ctx: AppContext) -> None:
        self.names = ctx.admin.plans.names()
        self.default = ctx.admin.plans.default_name()

    def own(self, record: CustomerRecord) -> str | None:
        """The member's own plan's name; None: the default plan."""
        return None if record.plan_id is None else self.names.get(record.plan_id)

    def shown(self, record: CustomerRecord) -> str:
        """For people: the plan's name, or "default" and the default plan's name."""
        own = self.own(record)
        if own is not None:
            return own
        return (
            DEFAULT_WORD
            if self.default in (None, DEFAULT_WORD)
            else f"{DEFAULT_WORD} ({self.default})"
        )


def _to_json(record: CustomerRecord, plans: _PlanNames, *, with_pin: bool) -> dict[str, Any]:
    """JSON: the record, and its own plan's name (null: the default plan)."""
    return {**record.to_dict(include_pin=with_pin), "plan": plans.own(record)}


def _for_people(
    ctx: AppContext, record: CustomerRecord, plans: _PlanNames, *, with_pin: bool
) -> dict[str, Any]:
    """A record for a table or ``key: value`` lines: validity as the days an admin typed.

    JSON keeps the instants (valid_until is the moment access ends).
    """
    zone = ctx.settings.zone()
    data = record.to_dict(include_pin=with_pin)
    data["valid_from"] = show_start(record.valid_from, zone)
    data["valid_until"] = show_end(record.valid_until, zone)
    data["device_limit"] = _show_limit(record.device_limit, ctx.settings.device_limit)
    data.pop("plan_id")
    data["plan"] = plans.shown(record)
    return data


def _show_limit(own: int | None, default: int) -> str:
    """A device limit for people: the member's own, or the server's default and its value."""
    if own is None:
        return f"{DEFAULT_WORD} ({default or 'unlimited'})"
    return str(own) if own else "unlimited"


def _emit(ctx: AppContext, result: CustomerResult, headline: str, *, with_pin: bool) -> None:
    for message in result.warnings:
        warn(message)
    plans = _PlanNames(ctx)
    if ctx.json_output:
        print_json(_to_json(result.record, plans, with_pin=with_pin))
        return
    print(terminal_text(headline))
    print_fields(_for_people(ctx, result.record, plans, with_pin=with_pin))


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer add."""
    result = ctx.admin.customers.add(
        NewCustomer(
            args.email,
            args.name,
            pin=resolve(args.pin, None, "PIN"),
            active=not args.disabled,
            wifi_access=not args.no_wifi,
            valid_from=args.valid_from,
            valid_until=args.valid_until,
            plan=args.plan,
        )
    )
    if ctx.json_output:
        _emit(ctx, result, "", with_pin=True)
    else:
        for message in result.warnings:
            warn(message)
        print(f"created {result.record.email}  PIN {result.record.pin}")
    return 0


def cmd_list(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer list."""
    records = ctx.admin.customers.find(
        active=args.active, wifi_access=args.wifi, search=args.search, plan=args.plan
    )
    plans = _PlanNames(ctx)
    if ctx.json_output:
        print_json([_to_json(r, plans, with_pin=args.show_pins) for r in records])
        return 0
    rows = [_for_people(ctx, r, plans, with_pin=args.show_pins) for r in records]
    columns = list(_LIST_COLUMNS)
    if args.show_pins:
        columns.insert(2, ("pin", "PIN"))
    print_table(rows, columns)
    print(f"{len(rows)} customer(s)")
    return 0


def cmd_show(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer show."""
    record = ctx.admin.customers.get(args.email)
    plans = _PlanNames(ctx)
    if ctx.json_output:
        print_json(_to_json(record, plans, with_pin=True))
    else:
        print_fields(_for_people(ctx, record, plans, with_pin=True))
    return 0


def cmd_set_pin(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer set-pin."""
    # From standard input: typed without echo on a terminal, like every other secret.
    pin = read_stdin("new PIN").strip() if args.pin == STDIN else args.pin
    result = ctx.admin.customers.set_pin(args.email, pin)
    if result.changed:
        _emit(ctx, result, f"PIN changed for {result.record.email}", with_pin=True)
    elif ctx.json_output:
        print_json({**_to_json(result.record, _PlanNames(ctx), with_pin=True), "changed": False})
    else:
        print(terminal_text(f"PIN unchanged for {result.record.email}: it already is that PIN"))
    return 0


def cmd_regenerate_pin(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer regenerate-pin."""
    result = ctx.admin.customers.regenerate_pin(args.email)
    _emit(ctx, result, f"new PIN for {result.record.email}", with_pin=True)
    return 0


def cmd_update(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer update, enable, disable."""
    limit = None
    if args.device_limit is not None:
        try:
            limit = parse_device_limit(args.device_limit)
        except ValueError as exc:
            raise CommandError(str(exc), 2) from None  # a usage error
    update = CustomerUpdate(
        name=args.name,
        active=args.active,
        wifi_access=args.wifi,
        valid_from=args.valid_from,
        valid_until=args.valid_until,
        clear_valid_from=args.clear_valid_from,
        clear_valid_until=args.clear_valid_until,
        device_limit=limit,
        clear_device_limit=args.device_limit is not None and limit is None,
        plan=args.plan,
    )
    result = ctx.admin.customers.update(args.email, update)
    _emit(ctx, result, f"updated {result.record.email}", with_pin=False)
    return 0


def cmd_remove(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer remove."""
    record = ctx.admin.customers.remove(args.email)
    if ctx.json_output:
        print_json({"removed": record.email})
    else:
        print(f"removed {record.email}")
    return 0


def cmd_import(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer import: every row valid, or nothing written."""
    try:
        stream = (
            sys.stdin if args.file == "-" else open(args.file, encoding="utf-8-sig", newline="")  # noqa: SIM115
        )
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        report = ctx.admin.customers.import_csv(stream, dry_run=args.dry_run)
    except UnicodeDecodeError:
        raise CommandError(f"{args.file} is not UTF-8 text") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    if ctx.json_output:
        print_json(report.to_dict())
    elif not report.rows:
        print(f"no rows found in {args.file} (only a header line): nothing imported")
    else:
        for message in report.warnings:
            warn(message)
        for error in report.errors:
            label = f" ({error.email})" if error.email else ""
            # The label is the email cell as found in the file: escape it.
            print(terminal_text(f"line {error.line}{label}: {error.reason}"), file=sys.stderr)
        verb = "would create" if report.dry_run or not report.ok else "created"
        print(
            f"{verb} {report.count('created')}, "
            f"{'would update' if verb != 'created' else 'updated'} {report.count('updated')}, "
            f"unchanged {report.count('unchanged')}, bad rows {len(report.errors)}"
        )
        if not report.ok:
            print("nothing was written: fix the rows above and import again", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_export(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer export."""
    if args.file == "-":
        count = ctx.admin.customers.export_csv(sys.stdout, include_pin=not args.without_pin)
    else:
        try:
            # PINs inside: 0600 whatever the umask (private_files).
            with open_private_text(Path(args.file)) as handle:
                count = ctx.admin.customers.export_csv(handle, include_pin=not args.without_pin)
        except OSError as exc:
            raise CommandError(f"cannot write {args.file}: {exc.strerror}") from None
        print(f"exported {count} customer(s) to {args.file}", file=sys.stderr)
    return 0


def cmd_history(ctx: AppContext, args: argparse.Namespace) -> int:
    """customer history: the audit trail."""
    events = [e.to_dict() for e in ctx.admin.customers.history(args.limit, args.email)]
    if ctx.json_output:
        print_json(events)
    else:
        print_table(
            events,
            [
                ("at", "AT"),
                ("actor", "ACTOR"),
                ("action", "ACTION"),
                ("target", "TARGET"),
                ("details", "DETAILS"),
            ],
        )
    return 0
