"""``radius-server demo``: a ready-to-try server on the embedded SQLite default."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from radius_server.cli.args import listen_port
from radius_server.cli.context import AppContext
from radius_server.cli.serve import cmd_serve
from radius_server.store.errors import NotFound

DEMO_NAS = "demo-localhost"
DEMO_EMAIL = "demo@example.org"


def register(subparsers: Any) -> None:
    """Add ``demo``."""
    demo = subparsers.add_parser(
        "demo", help="set up a demo access point (127.0.0.1) and member, then serve"
    )
    demo.add_argument("--no-serve", action="store_true", help="set up and print, do not serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--auth-port", type=listen_port)
    demo.add_argument("--acct-port", type=listen_port)
    demo.set_defaults(handler=cmd_demo)


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


def cmd_demo(ctx: AppContext, args: argparse.Namespace) -> int:
    """Create (once) the demo client and customer, print how to try them, then serve."""
    try:
        nas = ctx.clients.get(DEMO_NAS)
    except NotFound:
        nas = ctx.clients.add(DEMO_NAS, "127.0.0.1")
    try:
        member = ctx.customers.get(DEMO_EMAIL)
    except NotFound:
        member = ctx.customers.add(DEMO_EMAIL, "Demo Member")
    eap_note = _trial_certificates(ctx)
    port = args.auth_port or ctx.settings.auth_port
    secret = shlex.quote(nas.secret)
    out = sys.stderr
    print(
        f"""
radius-server demo on {ctx.settings.database_url_resolved()}
  access point : {nas.name} at {nas.address}, shared secret {nas.secret}
  member       : {member.email}, PIN {member.pin}

Try it from another terminal:
  .venv/bin/radius-server test {member.email} {member.pin}
  radtest -x {member.email} {member.pin} 127.0.0.1:{port} 0 {secret}
  (radtest is in Debian's freeradius-utils; the server requires Message-Authenticator,
   which radtest 3.2 sends.)
{eap_note}
Manage members:  .venv/bin/radius-server customer add you@example.org --name "You"
Stop with Ctrl-C.
""",
        file=out,
    )
    if args.no_serve:
        return 0
    return cmd_serve(ctx, args)
