"""A server process loads only what serving needs (memory per process, issue 16).

``radius-server serve`` builds a parser with the serve module alone, so the other
commands' imports (the admin layer, mail, argon2, cryptography) stay out of it;
pyOpenSSL waits for EAP to be on and psycopg for a PostgreSQL database.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from radius_server import cli

# Loaded by a fresh interpreter that goes the way ``serve`` goes; what must not be there.
_PROBE = """
import json, sys
from radius_server import cli
assert cli._runs_serve(["serve"])
cli.build_parser(("serve",))
import radius_server.runtime.server
print(json.dumps(sorted(sys.modules)))
"""
NOT_FOR_SERVING = (
    "radius_server.admin",
    "radius_server.mail",
    "radius_server.web",
    "radius_server.eap.tls",
    "OpenSSL",
    "cryptography",
    "argon2",
    "psycopg",
    "fastapi",
)


def test_the_serve_path_leaves_the_other_commands_imports_out() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "radius_server.runtime.server" in loaded  # the probe really imported the server
    found = sorted(
        name
        for name in loaded
        for unwanted in NOT_FOR_SERVING
        if name == unwanted or name.startswith(unwanted + ".")
    )
    assert found == []


@pytest.mark.parametrize(
    ("words", "serving"),
    [
        (["serve"], True),
        (["serve", "--workers", "2"], True),
        (["--json", "serve"], True),
        (["--config", "site.toml", "serve"], True),
        (["--config=site.toml", "--json", "serve", "--worker"], True),
        # The value of --config is no command.
        (["--config", "serve", "customer", "list"], False),
        # Top-level help and the version list every command: the full parser.
        (["--help", "serve"], False),
        (["--version"], False),
        (["--conf", "site.toml", "serve"], False),
        (["customer", "list"], False),
        (["check-config"], False),
        ([], False),
    ],
)
def test_only_a_serve_command_line_gets_the_small_parser(words: list[str], serving: bool) -> None:
    assert cli._runs_serve(words) is serving


def test_the_small_parser_reads_serve_as_the_full_one_does() -> None:
    words = ["--json", "serve", "--host", "127.0.0.1", "--auth-port", "0", "--workers", "2"]
    small = vars(cli.build_parser(("serve",)).parse_args(words))
    full = vars(cli.build_parser().parse_args(words))
    assert small == full
    assert small["workers"] == 2
