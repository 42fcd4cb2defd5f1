"""``radius-server certs ...``: the certificate PEAP/TTLS presents to members' devices."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any

from radius_server.cli.context import AppContext
from radius_server.cli.output import print_fields, print_json, warn

_PRODUCTION_WARNING = (
    "this is a private CA for trials: every member's device must be told to trust ca.pem "
    "(or ca.der). For production use a certificate from a CA members' devices trust, or "
    "hand out ca.pem with a configuration profile (MDM, .mobileconfig, Windows GPO)."
)


def register(subparsers: Any) -> None:
    """Add the ``certs`` command group."""
    group = subparsers.add_parser("certs", help="server certificate for WPA2/WPA3-Enterprise (EAP)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="make a private CA and a server certificate (trials)")
    gen.add_argument(
        "--out",
        metavar="DIR",
        help="directory to write to (default: <data_dir>/certs, where the server looks)",
    )
    gen.add_argument(
        "--hostname",
        default=_default_hostname(),
        help="server name in the certificate; members enter it as 'domain' (default: %(default)s)",
    )
    gen.add_argument(
        "--key-type",
        choices=("rsa", "ecdsa"),
        default="rsa",
        help="server key (and a new CA's): rsa (RSA 2048, every device) or ecdsa (P-256: "
        "cheaper handshakes, one EAP round trip fewer; current devices only) "
        "(default: %(default)s)",
    )
    gen.add_argument(
        "--force", action="store_true", help="replace the server certificate (the CA is kept)"
    )
    gen.add_argument(
        "--new-ca", action="store_true", help="make a new CA too (devices must trust it again)"
    )
    gen.set_defaults(handler=cmd_generate)
    show = sub.add_parser("show", help="check the certificate the server would use for EAP")
    show.set_defaults(handler=cmd_show)


def _default_hostname() -> str:
    name = socket.getfqdn()
    return name if "." in name and not name.startswith("localhost") else "radius.wifi.lan"


def cmd_generate(ctx: AppContext, args: argparse.Namespace) -> int:
    """certs generate."""
    # cryptography is heavy; only certificate commands load it.
    from radius_server.eap.certificates import check_certificate, generate

    default_dir = Path(ctx.settings.data_dir).expanduser() / "certs"
    out = Path(args.out).expanduser() if args.out else default_dir
    if (out / "server.pem").exists() and not args.force:
        warn(
            f"{out / 'server.pem'} exists; use --force to replace it (devices must then be updated)"
        )
        return 1
    files = generate(
        out,
        args.hostname,
        ctx.settings.space_name,
        reuse_ca=not args.new_ca,
        key_type=args.key_type,
    )
    info = check_certificate(files.server_cert, files.server_key, files.ca_cert)
    found_by_default = out.resolve() == default_dir.resolve() and not ctx.settings.tls_cert_file
    data = {
        "ca_certificate": str(files.ca_cert),
        "ca_certificate_der": str(files.ca_der),
        "ca_key": str(files.ca_key),
        "server_certificate": str(files.server_cert),
        "server_key": str(files.server_key),
        "server_name": args.hostname,
        "server_key_type": info.key,
        "ca_key_type": _ca_key_type(files.ca_cert),
        "expires": info.not_after.date().isoformat(),
        "ca_sha256": _ca_fingerprint(files.ca_cert),
        "used_by_server": found_by_default,
    }
    warn(_PRODUCTION_WARNING)
    if ctx.json_output:
        print_json(data)
        return 0
    print(f"wrote a private CA and a server certificate to {out}")
    print_fields(data)
    print()
    print("On members' devices (see docs/wpa-enterprise.md):")
    der = files.ca_der.name
    print(f"  CA certificate:  install {files.ca_cert.name} (or {der} for Android/Windows)")
    print(f"  Domain / server name:  {args.hostname}")
    print("  EAP method: PEAP with MSCHAPv2, or TTLS with PAP")
    print("  Identity: the member's email; password: the 5-digit PIN")
    print("  Anonymous identity (optional): anonymous")
    if found_by_default:
        print("The server uses these files at its next start (EAP turns on by itself).")
    else:
        print("Point the server at them: set tls_cert_file, tls_key_file and tls_ca_file:")
        print(f"  tls_cert_file = {str(files.server_cert)!r}")
        print(f"  tls_key_file = {str(files.server_key)!r}")
        print(f"  tls_ca_file = {str(files.ca_cert)!r}")
    return 0


def _ca_key_type(path: Path) -> str:
    from cryptography import x509

    from radius_server.eap.certificates import key_description

    return key_description(x509.load_pem_x509_certificate(path.read_bytes()).public_key())


def _ca_fingerprint(path: Path) -> str:
    from cryptography import x509

    from radius_server.eap.certificates import fingerprint

    return fingerprint(x509.load_pem_x509_certificate(path.read_bytes()))


def cmd_show(ctx: AppContext, _args: argparse.Namespace) -> int:
    """certs show: what EAP would serve, or why it would refuse."""
    from radius_server.eap.certificates import CertificateError, check_certificate

    cert, key, chain = ctx.settings.tls_files()
    if not ctx.settings.tls_cert_file and not cert.exists():
        warn(f"no server certificate at {cert}: EAP is off (run 'radius-server certs generate')")
        return 1
    try:
        info = check_certificate(cert, key, chain)
    except CertificateError as exc:
        warn(str(exc))
        return 1
    data = {
        "certificate": str(cert),
        "key": str(key),
        "chain": str(chain) if chain else None,
        "subject": info.subject,
        "names": ", ".join(info.names),
        "key_type": info.key,
        "issuer": info.issuer,
        "expires": info.not_after.isoformat(),
        "sha256": info.sha256,
    }
    for message in info.warnings:
        warn(message)
    if ctx.json_output:
        print_json({**data, "warnings": list(info.warnings)})
    else:
        print_fields(data)
    return 0
