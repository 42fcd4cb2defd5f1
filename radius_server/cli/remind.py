"""``radius-server pin remind ...``: email members their PIN, from the shared template."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from email.message import EmailMessage
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, print_json, print_table, warn
from radius_server.config import ConfigError, Settings
from radius_server.mail.reminders import (
    compose,
    preview_text,
    recipient_of,
    render_for,
    select_recipients,
    send_all,
)
from radius_server.mail.sender import Delivery, SmtpConfig, SmtpSender
from radius_server.mail.store import TemplateRepository, record_reminder
from radius_server.mail.template import Template
from radius_server.store.records import CustomerRecord

VIA = "pin remind"
# Shown by a dry run when smtp_sender_address is unset (.invalid: RFC 2606, never delivered).
PLACEHOLDER_SENDER = "sender-not-set@example.invalid"


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


def _smtp_config(settings: Settings, *, dry_run: bool) -> SmtpConfig:
    """The sending settings; a dry run sends nothing, so it goes on without them (and says so)."""
    try:
        return SmtpConfig.from_settings(settings)
    except ConfigError as exc:
        if not dry_run:
            raise
        warn(f"{exc}; this dry run shows {PLACEHOLDER_SENDER} instead")
        usable = dataclasses.replace(
            settings,
            smtp_sender_address=PLACEHOLDER_SENDER,
            smtp_host=settings.smtp_host.strip() or "localhost",
        )
        return SmtpConfig.from_settings(usable)


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
    config = _smtp_config(ctx.settings, dry_run=args.dry_run)
    template = TemplateRepository(ctx.sessions, ctx.actor).get().template
    selection = select_recipients(
        ctx.customers, args.emails, active_only=args.active, wifi_only=args.wifi
    )
    for email, why in selection.skipped:
        warn(f"skipping {email}: {why}")
    records = selection.recipients
    skipped = [{"email": email, "reason": why} for email, why in selection.skipped]
    if not records:
        if ctx.json_output:
            print_json({"sent": 0, "failed": 0, "results": [], "skipped": skipped})
        else:
            print("no member to remind: nothing sent")
        return 0
    space = ctx.settings.space_name
    messages = compose(template, records, sender=config.sender, space_name=space)
    if args.dry_run:
        return _dry_run(ctx, args.show, records, messages, config, template, skipped)
    bulk = args.all or len(records) > 1
    if bulk and not args.yes and not _confirmed(len(records), config):
        return 1
    journal = functools.partial(record_reminder, ctx.sessions, ctx.actor, via=VIA)
    results: list[Delivery] = []
    with SmtpSender(config) as sender:
        for delivery in send_all(messages, sender, journal):
            results.append(delivery)
            if not ctx.json_output:
                _print_delivery(delivery)
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


def _dry_run(
    ctx: AppContext,
    show: bool,
    records: list[CustomerRecord],
    messages: list[EmailMessage],
    config: SmtpConfig,
    template: Template,
    skipped: list[dict[str, str]],
) -> int:
    """List recipients and subjects; the PIN only with --show, for the first member."""
    rows = [
        {"email": r.email, "name": r.full_name, "subject": str(m["Subject"])}
        for r, m in zip(records, messages, strict=True)
    ]
    shown = None
    if show:
        first = records[0]
        shown = preview_text(
            render_for(template, first, ctx.settings.space_name),
            sender=str(config.sender),
            recipient=str(recipient_of(first)),
        )
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
        print(f"\n--- message to {records[0].email} ---\n{shown}", end="")
    return 0
