"""Build the "eap" and "mschap" method handlers from plain settings, checking the certificate.

EAP is on when a server certificate is configured, or when the default
``<data_dir>/certs/server.pem`` (from ``radius-server certs generate``) exists.
A certificate that is expired, not yet valid or does not match its key stops
the server with a message saying so (ConfigError), rather than failing every
member's handshake. It takes plain values, not ``Settings``: ``runtime/server.py`` reads the
configuration and turns ``EapSetupError`` into a ``ConfigError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radius_server.eap.plain_mschap import PlainMsChapHandler
from radius_server.rules.directory import Directory
from radius_server.rules.methods import MethodHandler


class EapSetupError(Exception):
    """EAP is configured but its certificate cannot be served; the message says why."""


@dataclass(frozen=True, slots=True)
class EapSetup:
    """What EAP needs from the configuration, as plain values."""

    cert: Path
    key: Path
    chain: Path | None
    # True when the certificate was configured, not just the default path looked at.
    configured: bool
    tls_min_version: str
    tls_max_version: str
    # EapOptions' fields by name: building them imports eap/handler.py, which loads
    # pyOpenSSL and cryptography (about 9 MiB), so only once EAP is on.
    options: dict[str, Any]
    # Seconds a TLS session may be resumed for fast reconnect (0: off).
    tls_session_lifetime: int = 0


def build_methods(
    setup: EapSetup, log: Any, directory: Directory | None = None
) -> dict[str, MethodHandler]:
    """Handlers for the engine's ``methods=``; plain MS-CHAPv2 is always on.

    ``directory``: the view fast reconnect re-checks a resumed session's member against.

    Raises:
        EapSetupError: EAP is configured but its certificate cannot be served.
    """
    methods: dict[str, MethodHandler] = {"mschap": PlainMsChapHandler()}
    cert, key, chain = setup.cert, setup.key, setup.chain
    if not setup.configured and not cert.exists():
        log.info(
            "eap_disabled",
            reason="no server certificate",
            looked_for=str(cert),
            hint="radius-server certs generate",
        )
        return methods
    # Only with a certificate: pyOpenSSL and cryptography (about 9 MiB of the server's
    # memory) stay unloaded while EAP is off.
    from radius_server.eap.certificates import CertificateError, check_certificate
    from radius_server.eap.handler import EapHandler, EapOptions
    from radius_server.eap.tls import TlsServer

    try:
        info = check_certificate(cert, key, chain)
        tls = TlsServer(
            cert,
            key,
            chain,
            setup.tls_min_version,
            setup.tls_max_version,
            setup.tls_session_lifetime if directory is not None else 0,
        )
    except CertificateError as exc:
        log.error("eap_certificate_refused", detail=str(exc))
        raise EapSetupError(f"EAP certificate: {exc}") from None
    except Exception as exc:  # OpenSSL refusing a file pyca/cryptography accepted
        log.error("eap_certificate_refused", detail=type(exc).__name__)
        raise EapSetupError(f"EAP certificate {cert}: OpenSSL cannot use it ({exc})") from None
    for warning in info.warnings:
        log.warning("eap_certificate_warning", detail=warning)
    options = EapOptions(**setup.options)
    handler = EapHandler(tls, options, log, directory)
    # For /metrics and /readyz (runtime/metrics.py): days left, valid or not.
    handler.certificate_expires = info.not_after
    methods["eap"] = handler
    log.info(
        "eap_enabled",
        methods=["peap-mschapv2", "ttls-pap", "ttls-mschapv2", "ttls-eap-mschapv2"],
        default_method=options.default_method,
        tls_versions=f"{setup.tls_min_version}-{setup.tls_max_version}",
        fast_reconnect=tls.session_lifetime > 0,
        certificate=str(cert),
        subject=info.subject,
        key=info.key,
        names=list(info.names),
        issuer=info.issuer,
        expires=info.not_after.isoformat(),
        sha256=info.sha256,
    )
    return methods
