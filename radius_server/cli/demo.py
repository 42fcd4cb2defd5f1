"""``radius-server demo``: a ready-to-try server on the embedded SQLite default.

It is what ``./run.sh`` runs, the first command anyone tries: the lines it
prints must work as printed from another terminal. The ``test`` line carries
the port and the secret, so it needs no settings at all; the admin line says
how another terminal finds this data (``./radius-server.toml``, which run.sh
writes, or the environment this demo was started with).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from radius_server.admin.clients import NewClient
from radius_server.admin.customers import NewCustomer
from radius_server.cli.context import AppContext
from radius_server.cli.output import CommandError, mask_url
from radius_server.cli.serve import (
    add_server_arguments,
    cmd_serve,
    listen_failure,
    server_settings,
)
from radius_server.config import ENV_PREFIX, LOCAL_CONFIG_NAME, Settings
from radius_server.store.errors import NotFound

DEMO_NAS = "demo-localhost"
DEMO_EMAIL = "demo@example.org"
DEMO_HOST = "127.0.0.1"


def register(subparsers: Any) -> None:
    """Add ``demo``: the server options are ``serve``'s own (see add_server_arguments)."""
    demo = subparsers.add_parser(
        "demo", help="set up a demo access point (127.0.0.1) and member, then serve"
    )
    demo.add_argument("--no-serve", action="store_true", help="set up and print, do not serve")
    add_server_arguments(demo)
    # The demo access point is 127.0.0.1: serve only there unless told otherwise.
    demo.set_defaults(handler=cmd_demo, creates_database=True, host=DEMO_HOST)


def _trial_certificates(ctx: AppContext) -> str:
    """Trial certificates so the demo also speaks EAP (PEAP/TTLS); a line saying so."""
    if ctx.settings.tls_cert_file:
        return "WPA-Enterprise (EAP): using the configured certificate."
    certs = Path(ctx.settings.data_dir).expanduser() / "certs"
    if not (certs / "server.pem").exists():
        from radius_server.eap.certificates import generate  # heavy: only when needed

        generate(certs, "radius.demo.lan", ctx.settings.space_name)
    return (
        f"WPA-Enterprise (EAP, PEAP/TTLS): on, with TRIAL certificates in {certs}\n"
        "  (production needs a certificate members' devices trust: docs/wpa-enterprise.md)"
    )


def _program() -> str:
    """How to call this program again from another terminal, as it was called here.

    A script under the current directory (run.sh's ``.venv/bin/radius-server``) is
    shown relative to it; one found on the PATH outside a virtualenv is just
    ``radius-server``; ``python -m`` too.
    """
    invoked = sys.argv[0]
    if Path(invoked).name != "radius-server":
        return "radius-server"
    on_path = shutil.which("radius-server")
    venv = os.environ.get("VIRTUAL_ENV")
    # Another terminal has not activated this virtualenv: keep the full path then.
    in_venv = bool(venv) and invoked.startswith(f"{venv}/")
    same = bool(on_path) and Path(str(on_path)).resolve() == Path(invoked).resolve()
    if Path(invoked).is_absolute() and same and not in_venv:
        return "radius-server"
    if Path(invoked).is_absolute() and Path(invoked).is_relative_to(Path.cwd()):
        invoked = os.path.relpath(invoked)  # run.sh's .venv/bin/radius-server, as in the README
    return shlex.quote(invoked)


def _is_relative(program: str) -> bool:
    return "/" in program and not program.startswith("/")


def _admin_command(ctx: AppContext) -> tuple[str, str]:
    """(command, note) for admin commands on this demo's data from another terminal."""
    program = _program()
    config = ctx.config_file
    local = Path.cwd() / LOCAL_CONFIG_NAME
    discovered = bool(config) and Path(config).resolve() == local.resolve()
    from_env = any(ENV_PREFIX + name in os.environ for name in ("DATABASE_URL", "DATA_DIR"))
    notes = []
    if discovered and not from_env:
        notes.append(f"in {Path.cwd()}, where {LOCAL_CONFIG_NAME} points at this data")
    elif discovered or _is_relative(program):
        notes.append(f"in {Path.cwd()}")
    if config and not discovered:
        program += f" --config {shlex.quote(str(Path(config).absolute()))}"
    if ENV_PREFIX + "DATABASE_URL" in os.environ:
        # It may hold a password: name the variable, never print its value.
        notes.append(f"with this terminal's ${ENV_PREFIX}DATABASE_URL")
    elif ENV_PREFIX + "DATA_DIR" in os.environ:
        data_dir = shlex.quote(str(Path(ctx.settings.data_dir).absolute()))
        program = f"{ENV_PREFIX}DATA_DIR={data_dir} {program}"
    return program, f" ({'; '.join(notes)})" if notes else ""


def _try_lines(settings: Settings, email: str, pin: str, secret: str) -> str:
    """The try-it lines: they carry server and secret, so they work from any terminal."""
    quoted = shlex.quote(secret)
    server = f"{DEMO_HOST}:{settings.auth_port}"
    # --server only when needed keeps the usual line short; --secret=... because a
    # generated secret may start with "-", which argparse would take for an option.
    where = "" if settings.auth_port == Settings().auth_port else f" --server {server}"
    return (
        f"  {_program()} test {email} {pin}{where} --secret={quoted}\n"
        f"  radtest -x {email} {pin} {server} 0 {quoted}"
    )


def _api_line(settings: Settings, admin: str) -> str:
    """How to start the HTTP API beside this server (same data) and get a token for it."""
    docs = f"http://{settings.web_host}:{settings.web_port}/api/v1/docs"
    return f"HTTP API: {admin} token create NAME --role operator, then {admin} web ({docs})"


def cmd_demo(ctx: AppContext, args: argparse.Namespace) -> int:
    """Create (once) the demo client and customer, print how to try them, then serve."""
    settings = server_settings(ctx, args)
    if not args.no_serve:
        from radius_server.runtime.supervisor import claim_ports

        # Before the banner: a busy port fails here, and port 0 becomes the real port
        # the printed lines need.
        try:
            args.auth_port, args.acct_port = claim_ports(settings)
        except OSError as exc:
            raise CommandError(listen_failure(settings.host, exc)) from None
        settings = server_settings(ctx, args)
    try:
        nas = ctx.admin.clients.get(DEMO_NAS)
    except NotFound:
        nas = ctx.admin.clients.add(NewClient(DEMO_NAS, DEMO_HOST)).record
    try:
        member = ctx.admin.customers.get(DEMO_EMAIL)
    except NotFound:
        member = ctx.admin.customers.add(NewCustomer(DEMO_EMAIL, "Demo Member")).record
    eap_note = _trial_certificates(ctx)
    admin, where = _admin_command(ctx)
    try_where = f", in {Path.cwd()}" if _is_relative(_program()) else ""
    print(
        f"""
radius-server demo on {mask_url(ctx.settings.database_url_resolved())}
  access point : {nas.name} at {nas.address}, shared secret {nas.secret}
  member       : {member.email}, PIN {member.pin}

Try it from another terminal{try_where}:
{_try_lines(settings, member.email, member.pin, nas.secret)}
  (radtest is in Debian's freeradius-utils; the server requires Message-Authenticator,
   which radtest 3.2 sends.)
{eap_note}
Manage members{where}:
  {admin} customer add you@example.org --name "You"
{_api_line(ctx.settings, admin)}
Stop with Ctrl-C.
""",
        file=sys.stderr,
    )
    if args.no_serve:
        return 0
    return cmd_serve(ctx, args)
