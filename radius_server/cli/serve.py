"""``radius-server serve`` and ``check-config``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import mask_url, print_json, warn
from radius_server.config import secret_setting_names, with_overrides
from radius_server.logging import configure_logging, flush_logs, get_logger
from radius_server.store import database


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``check-config``."""
    run = subparsers.add_parser("serve", help="run the RADIUS server (auth 1812, acct 1813)")
    run.add_argument("--host", help="address to bind; '::' is IPv6 and IPv4 ($RADIUS_HOST)")
    run.add_argument("--auth-port", type=int, help="authentication port ($RADIUS_AUTH_PORT)")
    run.add_argument("--acct-port", type=int, help="accounting port ($RADIUS_ACCT_PORT)")
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing the ports, 0 = one per CPU ($RADIUS_WORKERS, default 1)",
    )
    # Set by the supervisor for its children: bind with SO_REUSEPORT.
    run.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(handler=cmd_serve)
    check = subparsers.add_parser("check-config", help="validate settings and the database")
    check.set_defaults(handler=cmd_check_config)


def cmd_serve(ctx: AppContext, args: argparse.Namespace) -> int:
    """serve: log JSON events to stdout until SIGTERM."""
    settings = with_overrides(
        ctx.settings,
        host=args.host,
        auth_port=args.auth_port,
        acct_port=args.acct_port,
        workers=args.workers,
    )
    if settings.workers > 1 and not args.worker:
        from radius_server.supervisor import run_workers

        try:
            return run_workers(settings, settings.workers, get_logger())
        except OSError as exc:
            print(f"error: cannot listen on {settings.host}: {exc.strerror}", file=sys.stderr)
            return 1
    configure_logging(settings.log_format, settings.log_level, stream=sys.stdout, buffered=True)
    log = get_logger()
    # Imported here: the server (TLS, EAP) is heavy and admin commands never need it.
    from radius_server.server import StartupRefused, serve

    try:
        asyncio.run(serve(settings, log, reuse_port=args.worker))
    except StartupRefused as exc:
        log.error("server_failed", error="DirectoryUnavailable", detail=str(exc))
        flush_logs()
        target = mask_url(settings.database_url_resolved())
        print(f"error: cannot load the directory from {target}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.error("server_failed", error=type(exc).__name__, detail=exc.strerror)
        flush_logs()
        print(f"error: cannot listen on {settings.host}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        flush_logs()
    return 0


def cmd_check_config(ctx: AppContext, _args: argparse.Namespace) -> int:
    """check-config: settings (secrets masked), database reachable and migrated, clients."""
    settings = ctx.settings
    shown = {
        name: ("***" if name in secret_setting_names() and value else value)
        for name, value in settings.__dataclass_fields__.items()
        for value in [getattr(settings, name)]
    }
    shown["database_url"] = mask_url(settings.database_url_resolved())
    problems: list[str] = []
    try:
        up_to_date = database.is_up_to_date(ctx.engine)
        if not up_to_date:
            problems.append("database schema is not up to date: run 'radius-server db upgrade'")
    except Exception as exc:  # report any connection failure as one line
        problems.append(f"database unreachable: {type(exc).__name__}")
    clients = []
    if not problems:
        clients = ctx.clients.find()
        if not clients:
            problems.append("no RADIUS clients: add one with 'radius-server nas add'")
        for client in clients:
            if not client.require_message_authenticator:
                warn(f"client {client.name} does not require Message-Authenticator (BlastRADIUS)")
    if ctx.json_output:
        print_json(
            {"settings": shown, "clients": len(clients), "problems": problems, "ok": not problems}
        )
    else:
        for name, value in shown.items():
            print(f"{name} = {value!r}")
        print(f"clients: {len(clients)}")
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        print("configuration OK" if not problems else "configuration has problems")
    return 0 if not problems else 1
