"""``radius-server test EMAIL PIN``: a radtest that speaks our defaults (Message-Authenticator)."""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import time
from typing import Any

from radius_server.cli.args import host_port
from radius_server.cli.context import AppContext
from radius_server.cli.hidden_input import ARGV_NOTE, STDIN, add_secret_options, resolve
from radius_server.cli.output import CommandError, print_json, terminal_text
from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request, verify_reply
from radius_server.protocol.errors import EncodeError, ProtocolError
from radius_server.protocol.packet import decode_request
from radius_server.rules.directory import Clients
from radius_server.runtime.sync import client_from_record

EXIT_ACCEPT, EXIT_REJECT, EXIT_NO_ANSWER = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add ``test``."""
    test = subparsers.add_parser("test", help="send one Access-Request, like radtest")
    test.add_argument("email")
    test.add_argument(
        "pin", nargs="?", help=f"the PIN, or - to read it from standard input ({ARGV_NOTE})"
    )
    test.add_argument("--pin-file", metavar="FILE", help="read the PIN from the first line of FILE")
    test.add_argument(
        "--server",
        type=host_port,
        default=None,
        metavar="HOST:PORT",
        help="server to ask (default 127.0.0.1:auth_port; [IPv6]:PORT for IPv6)",
    )
    add_secret_options(test, "default: the client matching 127.0.0.1 in the database")
    test.add_argument("--method", choices=("pap", "chap"), default="pap")
    test.add_argument("--timeout", type=float, default=2.0, help="seconds per try")
    test.add_argument("--retries", type=int, default=3)
    test.add_argument(
        "--no-message-authenticator",
        action="store_true",
        help="send without Message-Authenticator (to test the server's policy)",
    )
    test.set_defaults(handler=cmd_test)


def _local_secret(ctx: AppContext, host: str) -> str | None:
    """The secret of the client our own address would match, from the database."""
    table = Clients()
    table.replace_all(client_from_record(r) for r in ctx.admin.clients.find())
    probe = "127.0.0.1" if host in ("127.0.0.1", "localhost") else host
    found = table.match(probe)
    return found.secret.decode() if found else None


def cmd_test(ctx: AppContext, args: argparse.Namespace) -> int:
    """Send the request, retrying, and report the verified answer."""
    host, given_port = args.server or ("127.0.0.1", None)
    port = given_port or ctx.settings.auth_port
    if not port:  # auth_port = 0 means "any free port" to serve, nothing to send to
        raise CommandError("auth_port is 0 (any free port): give --server HOST:PORT", 2)
    if (args.pin is None) == (args.pin_file is None):
        raise CommandError("give the PIN or --pin-file (one of them)", EXIT_NO_ANSWER)
    if STDIN in (args.pin, args.pin_file) and STDIN in (args.secret, args.secret_file):
        raise CommandError(
            "only one of the PIN and the secret can come from standard input; "
            "use --pin-file or --secret-file for the other",
            EXIT_NO_ANSWER,
        )
    pin = (resolve(args.pin, args.pin_file, "PIN") or "").strip()
    secret_text = resolve(args.secret, args.secret_file, "shared secret")
    secret_text = secret_text or _local_secret(ctx, host)
    if not secret_text:
        raise CommandError(
            "give --secret (no client in the database matches this host)", EXIT_NO_ANSWER
        )
    secret = secret_text.encode()
    identifier = secrets.randbelow(256)
    try:
        request = encode_request(
            secret,
            identifier=identifier,
            user_name=args.email,
            password=pin.encode(),
            method=args.method,
            message_authenticator=not args.no_message_authenticator,
            attributes=[(c.NAS_IDENTIFIER, b"radius-server-test")],
        )
    except EncodeError as exc:
        # E.g. a PIN argument over 128 octets; the message never quotes it.
        raise CommandError(f"cannot send this request: {exc}", EXIT_NO_ANSWER) from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    started = time.perf_counter()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(args.timeout)
        try:
            sock.connect((host, port))
        except OSError as exc:
            reason = f"cannot reach {host}:{port}: {exc.strerror}"
            raise CommandError(reason, EXIT_NO_ANSWER) from None
        for _ in range(max(1, args.retries)):
            sock.send(request.packet)
            try:
                while True:
                    reply = sock.recv(4096)
                    if verify_reply(reply, request.authenticator, secret, identifier=identifier):
                        return _report(ctx, reply, started)
            except TimeoutError:
                continue
            except OSError:
                continue
    message = f"no verified answer from {host}:{port} (wrong secret, unknown client, or down)"
    if ctx.json_output:
        print_json({"result": "no-answer", "server": f"{host}:{port}"})
    else:
        print(message, file=sys.stderr)
    return EXIT_NO_ANSWER


def _report(ctx: AppContext, reply: bytes, started: float) -> int:
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    try:
        decoded = decode_request(reply)
        message_raw = decoded.get(c.REPLY_MESSAGE)
    except ProtocolError:
        message_raw = None
    message = message_raw.decode("utf-8", "replace") if message_raw else ""
    accepted = reply[0] == c.Code.ACCESS_ACCEPT
    result = "Access-Accept" if accepted else "Access-Reject"
    if ctx.json_output:
        print_json({"result": result, "reply_message": message, "ms": elapsed})
    else:
        # Reply-Message comes from the wire: escaped, it cannot drive the terminal.
        print(terminal_text(f"{result} in {elapsed} ms" + (f": {message}" if message else "")))
    return EXIT_ACCEPT if accepted else EXIT_REJECT
