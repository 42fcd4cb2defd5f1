"""``radius-server pin remind ...``: email members their PIN, from the shared template."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radius_server.admin.reminders import ReminderPlan
from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, print_json, print_table, warn
from radius_server.mail.sender import Delivery, SmtpConfig

VIA = "pin remind"


def register(subparsers: Any) -> None:
    """Add the ``pin`` command group."""
    group = subparsers.add_parser("pin", help="PIN reminders by email")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    remind = sub.add_parser(
        "remind",
        help="email members a reminder of their PIN",
        description="Email members their PIN using the template (see 'template show'). "
        "Sending to more than one member asks for confirmation unless --yes is given.",
    )
    remind.add_argument("emails", nargs="*", metavar="EMAIL", help="members to remind")
    remind.add_argument("--all", action="store_true", help="every member (combine with filters)")
    remind.add_argument("--active", action="store_true", help="only members who are not disabled")
    remind.add_argument("--wifi", action="store_true", help="only members with Wi-Fi access")
    remind.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remind.add_argument(
        "--dry-run", action="store_true", help="list who would get the reminder; send nothing"
    )
    remind.add_argument(
        "--show",
        action="store_true",
        help="with --dry-run: print the first message in full (it contains the PIN)",
    )
    remind.set_defaults(handler=cmd_remind)


def _confirmed(count: int, config: SmtpConfig) -> bool:
    """Ask on the terminal; a script without --yes is refused rather than guessed for."""
    if not sys.stdin.isatty():
        raise CommandError(
            f"refusing to email {count} member(s) without confirmation: "
            "run again with --yes (or --dry-run to see who would get it)"
        )
    answer = input(f"Email a PIN reminder to {count} member(s) via {config.describe()}? [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("cancelled: nothing sent", file=sys.stderr)
    return False


def _print_delivery(delivery: Delivery) -> None:
    if delivery.ok:
        print(f"sent    {delivery.recipient}")
    else:
        print(f"FAILED  {delivery.recipient}: {delivery.reason}")


def cmd_remind(ctx: AppContext, args: argparse.Namespace) -> int:
    """pin remind."""
    if bool(args.emails) == bool(args.all):
        raise CommandError("name the members to remind, or use --all (not both)", 2)
    if args.show and not args.dry_run:
        raise CommandError("--show only goes with --dry-run", 2)
    reminders = ctx.admin.reminders
    smtp = reminders.smtp(dry_run=args.dry_run)
    if smtp.warning:
        warn(smtp.warning)
    plan = reminders.plan(smtp.config, args.emails, active_only=args.active, wifi_only=args.wifi)
    for email, why in plan.skipped:
        warn(f"skipping {email}: {why}")
    skipped = [{"email": email, "reason": why} for email, why in plan.skipped]
    if not plan.recipients:
        if ctx.json_output:
            print_json({"sent": 0, "failed": 0, "results": [], "skipped": skipped})
        else:
            print("no member to remind: nothing sent")
        return 0
    if args.dry_run:
        return _dry_run(ctx, args.show, plan, skipped)
    bulk = args.all or plan.is_bulk
    if bulk and not args.yes and not _confirmed(len(plan.recipients), plan.config):
        return 1
    results = reminders.send(
        plan, via=VIA, on_delivery=None if ctx.json_output else _print_delivery
    )
    failed = [d for d in results if not d.ok]
    if ctx.json_output:
        print_json(
            {
                "sent": len(results) - len(failed),
                "failed": len(failed),
                "results": [
                    {"email": d.recipient, "status": d.status, "error": d.error, "reason": d.reason}
                    for d in results
                ],
                "skipped": skipped,
            }
        )
    else:
        summary = f"sent {len(results) - len(failed)} of {len(results)} reminder(s)"
        print(summary + (f"; {len(failed)} FAILED (see above)" if failed else ""))
    return 1 if failed else 0


def _dry_run(ctx: AppContext, show: bool, plan: ReminderPlan, skipped: list[dict[str, str]]) -> int:
    """List recipients and subjects; the PIN only with --show, for the first member."""
    config = plan.config
    rows = [
        {"email": r.email, "name": r.full_name, "subject": str(m["Subject"])}
        for r, m in zip(plan.recipients, plan.messages, strict=True)
    ]
    shown = ctx.admin.reminders.first_message(plan) if show else None
    if ctx.json_output:
        data: dict[str, Any] = {
            "dry_run": True,
            "server": config.describe(),
            "recipients": rows,
            "skipped": skipped,
        }
        if shown is not None:
            data["first_message"] = shown
        print_json(data)
        return 0
    print_table(rows, [("email", "EMAIL"), ("name", "NAME"), ("subject", "SUBJECT")])
    print(
        f"dry run: would email {len(rows)} member(s) from {config.sender} "
        f"via {config.describe()}; nothing sent"
    )
    if shown is not None:
        print(f"\n--- message to {plan.recipients[0].email} ---\n{shown}", end="")
    return 0
