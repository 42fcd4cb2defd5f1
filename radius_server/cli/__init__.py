"""Command line entry point: ``radius-server``.

Each sub-command lives in its own module exposing ``register(subparsers)``;
handlers take ``(ctx, args)`` and return the exit status. Expected failures
(bad input, refused changes, bad settings) print one line and exit non-zero;
no traceback reaches an admin for those. Under ``--json`` (accepted before or
after the sub-command) every such failure, usage errors included, is a JSON
object ``{"error": ..., "exit_code": ...}`` on stdout instead, with the same exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from radius_server import __version__
from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, first_line, mask_url, print_error, warn
from radius_server.config import (
    CONFIG_ENV,
    ConfigError,
    config_file_in_use,
    load_settings,
    unknown_environment,
)
from radius_server.logging import configure_logging
from radius_server.rules.pins import PinError
from radius_server.rules.validation import escape_controls
from radius_server.store.errors import StoreError

# Modules (radius_server.cli.NAME) that add sub-commands, in the order --help lists them.
COMMAND_MODULES = (
    "serve",
    "web",
    "customer",
    "plan",
    "location",
    "nas",
    "session",
    "lockout",
    "device",
    "probe",
    "demo",
    "db",
    "remind",
    "template",
    "mail",
    "certs",
    "token",
    "staff",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line argparse refused; carries the usage of the (sub-)command at fault."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.prog = prog


class CliParser(argparse.ArgumentParser):
    """A parser whose every (sub-)command takes ``--json`` and whose errors ``main`` prints.

    Sub-parsers are built with the parent's class, so each one gets ``--json``.
    Below the top level its default is SUPPRESS: otherwise a sub-command's
    default would overwrite a ``--json`` given before it.
    """

    def __init__(self, *args: Any, json_default: Any = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--json", action="store_true", default=json_default, help="machine-readable JSON output"
        )

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing, so ``main`` can answer in JSON when asked to."""
        raise UsageError(message, self.format_usage(), self.prog)


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The argument parser: the full one, or with the sub-commands of ``modules`` only."""
    parser = CliParser(
        prog="radius-server",
        description="RADIUS server for coworking Wi-Fi: members sign in with email and PIN.",
        json_default=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file ($RADIUS_CONFIG)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(f"radius_server.cli.{name}").register(subparsers)
    return parser


def _runs_serve(words: Sequence[str]) -> bool:
    """True when ``words`` are ``[--json] [--config FILE] serve ...``.

    Then only the serve module is loaded: a server process never needs the other
    commands' imports (the admin layer, mail, argon2, cryptography: about 12 MiB of
    its memory). Anything else before the command (--help, --version, an
    abbreviation) gets the full parser, so every message stays the same.
    """
    rest = iter(words)
    for word in rest:
        if word == "--json" or word.startswith("--config="):
            continue
        if word == "--config":
            next(rest, None)
            continue
        return word == "serve"
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    # Only to choose how a usage error is printed: the parse below decides the rest.
    wants_json = "--json" in words[: words.index("--") if "--" in words else len(words)]
    try:
        args = build_parser(("serve",) if _runs_serve(words) else COMMAND_MODULES).parse_args(words)
    except UsageError as exc:
        if wants_json:
            return print_error(str(exc), EXIT_USAGE, as_json=True)
        # argparse's own format; the message may quote a typed word, escaped.
        sys.stderr.write(f"{exc.usage}{exc.prog}: error: {escape_controls(str(exc))}\n")
        return EXIT_USAGE
    json_output = bool(args.json)

    def fail(message: str, code: int = EXIT_FAILED) -> int:
        return print_error(message, code, as_json=json_output)

    config_file = config_file_in_use(args.config)
    if config_file:
        # Child processes (serve --workers) read the same file.
        os.environ[CONFIG_ENV] = config_file
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    for message in unknown_environment(os.environ):
        warn(message)
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    ctx = AppContext(
        settings=settings,
        json_output=json_output,
        config_file=config_file,
        may_create_database=getattr(args, "creates_database", False),
    )
    try:
        return int(args.handler(ctx, args) or EXIT_OK)
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except (StoreError, PinError, ConfigError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except OperationalError as exc:
        # Unreachable or refusing database: one line, the URL without its password.
        target = mask_url(settings.database_url_resolved())
        return fail(f"cannot use the database {target}: {first_line(exc.orig or exc)}")
    except (IntegrityError, DataError) as exc:
        # A refusal the checks before the write did not foresee (a race on a unique
        # index). Only its kind is shown: PostgreSQL's text quotes the key, a PIN.
        kind = type(exc.orig or exc).__name__
        return fail(f"the database refused the change ({kind}); nothing was written")
    except BrokenPipeError:
        # Output piped into head(1) and friends: not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK
    finally:
        ctx.close()
