"""``radius-server staff``: accounts of the web pages (add, list, remove, passwords, disable).

A password is never an argument (``ps`` would show it): it is typed without echo,
or read from standard input, or set by the person through a one-time link.
"""

from __future__ import annotations

import argparse
from typing import Any

from radius_server.admin.staff import password_link
from radius_server.cli.context import AppContext
from radius_server.cli.hidden_input import read_stdin
from radius_server.cli.output import CommandError, print_json, print_table
from radius_server.config import ConfigError
from radius_server.rules.roles import ROLE_NAMES, Role
from radius_server.store.staff import StaffRecord


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> None:
    """Add the ``staff`` command group."""
    group = subparsers.add_parser("staff", help="staff accounts of the web pages")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser(
        "add", help="add an account; without an option, print a one-time password link"
    )
    add.add_argument("email")
    add.add_argument(
        "--role", type=_role, required=True, metavar="|".join(ROLE_NAMES), help="what it may do"
    )
    how = add.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (typed without echo on a terminal)",
    )
    how.add_argument(
        "--send-link",
        action="store_true",
        help="email a one-time link (24 hours) where the person chooses a password",
    )
    add.set_defaults(handler=cmd_add)
    lst = sub.add_parser("list", help="accounts, never their passwords")
    lst.set_defaults(handler=cmd_list)
    remove = sub.add_parser("remove", help="delete an account (signed out at once)")
    remove.add_argument("email")
    remove.set_defaults(handler=cmd_remove)
    password = sub.add_parser(
        "set-password", help="set a password, typed once without echo or from standard input"
    )
    password.add_argument("email")
    password.set_defaults(handler=cmd_set_password)
    link = sub.add_parser("link", help="a new one-time password link (24 hours)")
    link.add_argument("email")
    link.add_argument("--send", action="store_true", help="email it instead of printing it")
    link.set_defaults(handler=cmd_link)
    for name, verb in (("disable", "cannot sign in; signed out at once"), ("enable", "again")):
        action = sub.add_parser(name, help=f"{name} an account ({verb})")
        action.add_argument("email")
        action.set_defaults(handler=cmd_disable if name == "disable" else cmd_enable)


def _read_password() -> str:
    password = read_stdin("Password")
    if not password:
        raise CommandError("no password given on standard input")
    return password


def _show(ctx: AppContext, record: StaffRecord, message: str, **extra: object) -> None:
    if ctx.json_output:
        print_json({**record.to_dict(), **extra})
    else:
        print(message)


def _hand_over_link(ctx: AppContext, record: StaffRecord, token: str, send: bool) -> dict[str, str]:
    """Email the link, or print it; what the JSON output says about it."""
    staff = ctx.admin.staff
    if send:
        delivery = staff.send_link(record, token)
        if not delivery.ok:
            raise CommandError(
                f"the link could not be sent to {record.email}: {delivery.reason}; "
                f"run 'radius-server staff link {record.email}' to make a new one"
            )
        return {"link": "sent"}
    try:
        url = staff.link_url(token)
    except ConfigError:  # no web_public_url: the path, to put after the pages' address
        url = password_link("", token)
    if not ctx.json_output:
        print(url)
        print(f"# one-time link for {record.email}: works once, for 24 hours; shown only now")
    return {"link": url}


def cmd_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """staff add EMAIL --role R [--password-stdin | --send-link]."""
    staff = ctx.admin.staff
    if args.send_link:
        # Checked before the account exists: a missing setting must not leave one behind.
        staff.link_url("x")
    password = _read_password() if args.password_stdin else None
    record, token = staff.add(args.email, args.role, password, with_link=password is None)
    extra: dict[str, str] = {}
    if token is not None:
        extra = _hand_over_link(ctx, record, token, args.send_link)
    if ctx.json_output:
        print_json({**record.to_dict(), **extra})
    else:
        how = "with a password" if password else "link sent" if args.send_link else "link above"
        print(f"added staff {record.email} ({record.role.label}, {how})")
    return 0


def cmd_list(ctx: AppContext, _args: argparse.Namespace) -> int:
    """staff list."""
    rows = [record.to_dict() for record in ctx.admin.staff.list()]
    if ctx.json_output:
        print_json(rows)
    elif rows:
        print_table(
            rows,
            [
                ("email", "EMAIL"),
                ("role", "ROLE"),
                ("state", "STATE"),
                ("last_sign_in_at", "LAST SIGN-IN"),
                ("created_by", "CREATED BY"),
            ],
        )
    else:
        print("no staff accounts")
    return 0


def cmd_remove(ctx: AppContext, args: argparse.Namespace) -> int:
    """staff remove EMAIL."""
    record = ctx.admin.staff.remove(args.email)
    _show(ctx, record, f"removed staff {record.email}")
    return 0


def cmd_set_password(ctx: AppContext, args: argparse.Namespace) -> int:
    """staff set-password EMAIL (the password from standard input)."""
    staff = ctx.admin.staff
    staff.get(args.email)  # an unknown account is refused before anything is typed
    record = staff.set_password(args.email, _read_password())
    _show(ctx, record, f"password set for {record.email}; its sessions were signed out")
    return 0


def cmd_link(ctx: AppContext, args: argparse.Namespace) -> int:
    """staff link EMAIL [--send]."""
    staff = ctx.admin.staff
    if args.send:
        staff.link_url("x")
    record, token = staff.password_link(args.email)
    extra = _hand_over_link(ctx, record, token, args.send)
    if ctx.json_output:
        print_json({**record.to_dict(), **extra})
    elif args.send:
        print(f"password link sent to {record.email}")
    return 0


def cmd_disable(ctx: AppContext, args: argparse.Namespace) -> int:
    """staff disable EMAIL."""
    record = ctx.admin.staff.set_disabled(args.email, True)
    _show(ctx, record, f"disabled staff {record.email}; signed out everywhere")
    return 0


def cmd_enable(ctx: AppContext, args: argparse.Namespace) -> int:
    """staff enable EMAIL."""
    record = ctx.admin.staff.set_disabled(args.email, False)
    _show(ctx, record, f"enabled staff {record.email}")
    return 0
