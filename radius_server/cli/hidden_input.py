"""PINs and shared secrets from standard input or a file rather than the command line.

A command-line argument is readable by every local user (``ps``, ``/proc/PID/cmdline``)
while the command runs, and stays in shell history. Standard input and a file
(mode 0600) are not: every command that takes a PIN or a secret offers them.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from radius_server.rules.validation import quote
from radius_server.store.errors import InvalidValue

# Appended to the --help of every argument that can carry a PIN or a secret.
ARGV_NOTE = "as an argument it is visible to other local users in ps: prefer -"
STDIN = "-"


def add_secret_options(parser: argparse.ArgumentParser, default_help: str) -> None:
    """``--secret S|-`` and ``--secret-file FILE``, mutually exclusive."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--secret",
        metavar="SECRET",
        help=f"shared secret, or - to read it from standard input ({default_help}; {ARGV_NOTE})",
    )
    group.add_argument(
        "--secret-file", metavar="FILE", help="read the shared secret from the first line of FILE"
    )


def add_named_secret_options(
    parser: argparse.ArgumentParser, name: str, what: str, default_help: str
) -> argparse._MutuallyExclusiveGroup:
    """``--NAME S|-`` and ``--NAME-file FILE`` for a second secret (say ``coa-secret``).

    Read back with ``resolve(args.NAME, args.NAME_file, what)``. Returns the
    mutually exclusive group, for an option that excludes both (``--no-NAME``).
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        f"--{name}",
        metavar="SECRET",
        help=f"{what}, or - to read it from standard input ({default_help}; {ARGV_NOTE})",
    )
    group.add_argument(f"--{name}-file", metavar="FILE", help=f"read the {what} from FILE")
    return group


def read_stdin(what: str) -> str:
    """One line from standard input; typed without echo when it is a terminal."""
    if sys.stdin.isatty():
        return getpass.getpass(f"{what}: ")
    return sys.stdin.readline().rstrip("\r\n")


def read_file(path: str, what: str) -> str:
    """The first line of ``path`` (``-``: standard input), without its line ending."""
    if path == STDIN:
        return read_stdin(what)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except OSError as exc:
        raise InvalidValue(f"cannot read the {what} from {quote(path)}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidValue(f"{quote(path)} is not UTF-8 text") from None


def resolve(value: str | None, path: str | None, what: str) -> str | None:
    """The value itself, ``-`` for standard input, or the first line of ``path``."""
    if path is not None:
        return read_file(path, what)
    if value == STDIN:
        return read_stdin(what)
    return value
