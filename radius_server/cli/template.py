"""``radius-server template ...``: the PIN reminder email every admin shares.

The file format is the one ``template show`` prints (see mail.template), so
``show > file``, edit, ``set file`` round-trips.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from radius_server.admin.templates import TemplateAdmin
from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, print_json
from radius_server.mail.reminders import preview_text
from radius_server.mail.template import (
    FILE_HELP,
    PLACEHOLDERS,
    Template,
    TemplateError,
    format_file,
)
from radius_server.store.records import iso
from radius_server.store.templates import StoredTemplate, TemplateConflict

_PART_NAMES = {"subject": "subject", "text": "plain-text body", "html": "HTML body"}


def register(subparsers: Any) -> None:
    """Add the ``template`` command group."""
    group = subparsers.add_parser("template", help="the PIN reminder email template")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    show = sub.add_parser("show", help="print the template in use (the file format of 'set')")
    show.add_argument("--default", action="store_true", help="print the built-in default")
    show.set_defaults(handler=cmd_show)

    edit = sub.add_parser("edit", help="edit the template in $VISUAL or $EDITOR")
    edit.set_defaults(handler=cmd_edit)

    set_ = sub.add_parser("set", help="replace the template with FILE (- for standard input)")
    set_.add_argument("file")
    set_.set_defaults(handler=cmd_set)

    reset = sub.add_parser("reset", help="go back to the built-in default template")
    reset.set_defaults(handler=cmd_reset)

    preview = sub.add_parser("preview", help="render the template for one member (PIN included)")
    preview.add_argument("email")
    preview.set_defaults(handler=cmd_preview)


def _origin(stored: StoredTemplate) -> str:
    if stored.is_default:
        return "# The built-in default template (never edited here).\n"
    when = stored.updated_at.strftime("%Y-%m-%d %H:%M UTC") if stored.updated_at else "?"
    return f"# Saved by {stored.updated_by or 'unknown'} on {when}.\n"


def _saved_message(parts: list[str]) -> str:
    if not parts:
        return "template unchanged"
    return "template saved (changed: " + ", ".join(_PART_NAMES[p] for p in parts) + ")"


def cmd_show(ctx: AppContext, args: argparse.Namespace) -> int:
    """template show."""
    stored = ctx.admin.templates.get(default=args.default)
    if ctx.json_output:
        print_json(
            {
                "source": "default" if stored.is_default else "saved",
                "subject": stored.template.subject,
                "text": stored.template.text,
                "html": stored.template.html,
                "updated_at": iso(stored.updated_at),
                "updated_by": stored.updated_by,
                "placeholders": PLACEHOLDERS,
            }
        )
        return 0
    print(format_file(stored.template, _origin(stored)), end="")
    return 0


def cmd_set(ctx: AppContext, args: argparse.Namespace) -> int:
    """template set FILE."""
    try:
        if args.file == "-":
            source = sys.stdin.read()
        else:
            source = Path(args.file).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{args.file} is not UTF-8 text") from None
    parts = ctx.admin.templates.save_text(source, via="template set")
    print(_saved_message(parts))
    return 0


def _run_editor(path: str) -> int | None:
    """Open ``path`` in the admin's editor; return its exit status, None if it cannot start."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        return subprocess.run([*shlex.split(editor), path], check=False).returncode
    except (OSError, ValueError):
        print(f"error: cannot run the editor {editor!r}: set $EDITOR", file=sys.stderr)
        return None


def _again() -> bool:
    if not sys.stdin.isatty():
        return False
    return input("Edit again? [Y/n] ").strip().lower() in ("", "y", "yes")


def _save_edited(templates: TemplateAdmin, path: str, start: Template) -> int | None:
    """Parse and save the edited file: 0 saved, 1 given up, None to edit again."""
    source = Path(path).read_text(encoding="utf-8")
    try:
        parts = templates.save_text(source, via="template edit", expected=start)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if _again():
            return None
    except TemplateConflict as exc:
        print(f"error: {exc}", file=sys.stderr)
    else:
        print(_saved_message(parts))
        return 0
    print(
        f"your text is kept in {path}: fix it, then run 'radius-server template set {path}'",
        file=sys.stderr,
    )
    return 1


def cmd_edit(ctx: AppContext, _args: argparse.Namespace) -> int:
    """template edit: $EDITOR on a temporary copy, validated when saved."""
    templates = ctx.admin.templates
    stored = templates.get()
    original = format_file(stored.template, FILE_HELP + _origin(stored))
    # mkstemp makes the file private to this user (0600).
    handle, path = tempfile.mkstemp(prefix="radius-template-", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(original)
    while True:
        status = _run_editor(path)
        if status is None or status != 0:
            if status:
                print(
                    f"error: the editor exited with status {status}: nothing saved", file=sys.stderr
                )
            os.unlink(path)
            return 1
        if Path(path).read_text(encoding="utf-8") == original:
            print("template unchanged")
            os.unlink(path)
            return 0
        result = _save_edited(templates, path, stored.template)
        if result is None:
            continue
        if result == 0:
            os.unlink(path)
        return result


def cmd_reset(ctx: AppContext, _args: argparse.Namespace) -> int:
    """template reset."""
    if ctx.admin.templates.reset(via="template reset"):
        print("template reset to the built-in default")
    else:
        print("the built-in default template is already in use")
    return 0


def cmd_preview(ctx: AppContext, args: argparse.Namespace) -> int:
    """template preview EMAIL: the message that member would get, PIN included."""
    preview = ctx.admin.templates.preview(args.email)
    rendered, sender, recipient = preview.rendered, preview.sender, preview.recipient
    if ctx.json_output:
        print_json(
            {
                "from": sender,
                "to": recipient,
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
            }
        )
        return 0
    print(preview_text(rendered, sender=sender, recipient=recipient), end="")
    return 0
