"""Command line entry point: ``radius-server``.

Each sub-command lives in its own module exposing ``register(subparsers)``;
handlers take ``(ctx, args)`` and return the exit status. Expected failures
(bad input, refused changes, bad settings) print one line and exit non-zero;
no traceback reaches an admin for those.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from radius_server import __version__
from radius_server.cli import (
    certs,
    customer,
    db,
    demo,
    lockout,
    mail,
    nas,
    probe,
    remind,
    serve,
    template,
)
from radius_server.cli.context import AppContext
from radius_server.cli.output import mask_url
from radius_server.config import ConfigError, load_settings
from radius_server.logging import configure_logging
from radius_server.pins import PinError
from radius_server.store.errors import StoreError
from radius_server.validation import escape_controls

# Modules that add sub-commands, in the order --help lists them.
COMMAND_MODULES = [serve, customer, nas, lockout, probe, demo, db, remind, template, mail, certs]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="radius-server",
        description="RADIUS server for coworking Wi-Fi: members sign in with email and PIN.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file ($RADIUS_CONFIG)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"error: {escape_controls(message)}", file=sys.stderr)
    return code


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        # Child processes (serve --workers) read the same file.
        os.environ["RADIUS_CONFIG"] = args.config
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    ctx = AppContext(settings=settings, json_output=args.json)
    try:
        return int(args.handler(ctx, args) or EXIT_OK)
    except (StoreError, PinError, ConfigError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except OperationalError as exc:
        # Unreachable or refusing database: one line, the URL without its password.
        target = mask_url(settings.database_url_resolved())
        return _fail(f"cannot use the database {target}: {_first_line(exc.orig or exc)}")
    except (IntegrityError, DataError) as exc:
        # A refusal the checks before the write did not foresee (a race on a unique
        # index). Only its kind is shown: PostgreSQL's text quotes the key, a PIN.
        kind = type(exc.orig or exc).__name__
        return _fail(f"the database refused the change ({kind}); nothing was written")
    except BrokenPipeError:
        # Output piped into head(1) and friends: not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK
    finally:
        ctx.close()
