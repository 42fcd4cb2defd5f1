"""``radius-server serve`` and ``check-config``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radius_server.cli.args import listen_port
from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, mask_url, print_json, warn
from radius_server.config import Settings, secret_setting_names, with_overrides
from radius_server.logging import configure_logging, flush_logs, get_logger
from radius_server.runtime.transport import ListenError
from radius_server.store import database

if TYPE_CHECKING:
    from radius_server.runtime.affinity import WorkerPeers


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a running server, shared by ``serve`` and ``demo``.

    ``demo`` serves through :func:`cmd_serve`, so both take exactly these: an
    option added here cannot be missing from one of them (it once was: ``demo``
    died on ``args.workers``).
    """
    parser.add_argument("--host", help="address to bind; '::' is IPv6 and IPv4 ($RADIUS_HOST)")
    parser.add_argument(
        "--auth-port", type=listen_port, help="authentication port ($RADIUS_AUTH_PORT; 0 = any)"
    )
    parser.add_argument(
        "--acct-port", type=listen_port, help="accounting port ($RADIUS_ACCT_PORT; 0 = any)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing the ports, 0 = one per CPU ($RADIUS_WORKERS, default 1)",
    )
    parser.add_argument(
        "--metrics-host", help="address of /metrics, /healthz, /readyz ($RADIUS_METRICS_HOST)"
    )
    parser.add_argument(
        "--metrics-port",
        type=listen_port,
        help="HTTP port of /metrics ($RADIUS_METRICS_PORT, default 9812; 0 = any)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="serve no /metrics endpoint ($RADIUS_METRICS_ENABLED=no)",
    )
    # Set by the supervisor for its children: bind with SO_REUSEPORT.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    # Set by the supervisor for its children: serve /metrics on this Unix socket.
    parser.add_argument("--metrics-socket", help=argparse.SUPPRESS)
    # Set by the supervisor for its children: this worker's index, the number of workers,
    # and the private directory of their peer sockets (EAP device affinity).
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer-dir", help=argparse.SUPPRESS)


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``check-config``."""
    run = subparsers.add_parser("serve", help="run the RADIUS server (auth 1812, acct 1813)")
    add_server_arguments(run)
    run.set_defaults(handler=cmd_serve)
    check = subparsers.add_parser("check-config", help="validate settings and the database")
    check.set_defaults(handler=cmd_check_config)


def server_settings(ctx: AppContext, args: argparse.Namespace) -> Settings:
    """The settings with the command line's server options applied."""
    return with_overrides(
        ctx.settings,
        host=args.host,
        auth_port=args.auth_port,
        acct_port=args.acct_port,
        workers=args.workers,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        metrics_enabled=False if args.no_metrics else None,
    )


def cmd_serve(ctx: AppContext, args: argparse.Namespace) -> int:
    """serve: log JSON events to stdout until SIGTERM or SIGINT (exit 0)."""
    settings = server_settings(ctx, args)
    # The embedded default (a SQLite file in data_dir) is made on first start, so a
    # new box works at once; a database_url naming a missing file is a typo.
    ctx.require_database(may_create=not settings.database_url)
    if settings.workers > 1 and not args.worker:
        from radius_server.runtime.supervisor import run_workers

        if database.sqlite_file(settings.database_url_resolved()) is not None:
            # Create and migrate here, once: workers doing it at the same time on a new
            # SQLite file would race (one dies on "table already exists"). PostgreSQL
            # is migrated by 'db upgrade', and its workers may start from a snapshot.
            _migrate_sqlite(settings)
        try:
            return run_workers(settings, settings.workers, get_logger())
        except OSError as exc:
            raise CommandError(listen_failure(settings.host, exc)) from None
    configure_logging(settings.log_format, settings.log_level, stream=sys.stdout, buffered=True)
    log = get_logger()
    # Imported here: the server (TLS, EAP) is heavy and admin commands never need it.
    from radius_server.runtime.server import StartupRefused, serve

    try:
        asyncio.run(
            serve(
                settings,
                log,
                reuse_port=args.worker,
                metrics_socket=args.metrics_socket,
                peers=_worker_peers(args),
            )
        )
    except StartupRefused as exc:
        log.error("server_failed", error="DirectoryUnavailable", detail=str(exc))
        flush_logs()
        target = mask_url(settings.database_url_resolved())
        print(f"error: cannot load the directory from {target}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.error("server_failed", error=type(exc).__name__, detail=exc.strerror)
        flush_logs()
        raise CommandError(listen_failure(settings.host, exc)) from None
    finally:
        flush_logs()
    return 0


def _worker_peers(args: argparse.Namespace) -> WorkerPeers | None:
    """A worker's place among its peers, when the supervisor gave one (and there are peers)."""
    if args.peer_dir is None or args.worker_index is None or not args.worker_count:
        return None
    if args.worker_count < 2 or not 0 <= args.worker_index < args.worker_count:
        return None
    from radius_server.runtime.affinity import WorkerPeers

    return WorkerPeers(args.worker_index, args.worker_count, Path(args.peer_dir))


def _migrate_sqlite(settings: Settings) -> None:
    engine = database.make_engine(
        settings.database_url_resolved(), timeout=settings.database_timeout
    )
    try:
        database.check_schema(engine)
    finally:
        engine.dispose()


def listen_failure(host: str, exc: OSError) -> str:
    """One line naming what could not be bound (ListenError knows the port)."""
    return str(exc) if isinstance(exc, ListenError) else f"cannot listen on {host}: {exc.strerror}"


def cmd_check_config(ctx: AppContext, _args: argparse.Namespace) -> int:
    """check-config: settings (secrets masked), database reachable and migrated, clients."""
    settings = ctx.settings
    shown = {
        name: ("***" if name in secret_setting_names() and value else value)
        for name, value in settings.__dataclass_fields__.items()
        for value in [getattr(settings, name)]
    }
    shown["database_url"] = mask_url(settings.database_url_resolved())
    # Not at the top: serve's process never loads the admin layer (cli/__init__.py).
    from radius_server.admin.schema import check_database

    # Lazily: building the engine may already be the problem to report.
    check = check_database(lambda: ctx.engine, lambda: ctx.admin.clients.find())
    for message in check.warnings:
        warn(message)
    problems, clients = list(check.problems), check.clients
    if ctx.json_output:
        print_json(
            {
                "config_file": ctx.config_file,
                "settings": shown,
                "clients": clients,
                "problems": problems,
                "ok": not problems,
            }
        )
    else:
        # Which file, if any: ./radius-server.toml is read without being named.
        print(f"# config file: {ctx.config_file or 'none (defaults and RADIUS_* variables)'}")
        for name, value in shown.items():
            print(f"{name} = {value!r}")
        print(f"clients: {clients}")
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        print("configuration OK" if not problems else "configuration has problems")
    return 0 if not problems else 1
