"""Run the web application under uvicorn until SIGTERM or SIGINT (graceful stop)."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from radius_server.config import Settings
from radius_server.web.app import create_app

# Seconds in-flight requests get to finish after SIGTERM before they are cut.
GRACEFUL_STOP_SECONDS = 10


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM/SIGINT ends it cleanly (exit status 0).

    uvicorn raises the caught signal again after its graceful stop, so the process
    would die of it (status 143) before logging ``web_stopped``.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop gracefully on SIGTERM and SIGINT (a second SIGINT forces it)."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _UvicornLog(logging.Handler):
    """uvicorn's own warnings and errors as JSON events (``uvicorn``), without tracebacks.

    Unconfigured, they reach stderr as bare text, and an unexpected error's traceback
    would quote the exception, which may hold request data (a PIN); the app's handler
    has already logged ``request_failed`` with the error's type.
    """

    def __init__(self, log: Any) -> None:
        super().__init__(logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        """Log the record's one-line message at its level."""
        write = getattr(self._log, record.levelname.lower(), self._log.warning)
        first_line = (record.getMessage().splitlines() or [""])[0]
        write("uvicorn", message=first_line[:300])


def _route_uvicorn_logs(log: Any) -> None:
    uvicorn_log = logging.getLogger("uvicorn")
    uvicorn_log.handlers = [_UvicornLog(log)]
    uvicorn_log.setLevel(logging.WARNING)
    uvicorn_log.propagate = False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port), IPv6 or IPv4."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(settings: Settings, log: Any) -> None:
    """Serve until stopped; logs ``web_started`` with the bound address, ``web_stopped``."""
    app = create_app(settings)
    sock = bind(settings.web_host, settings.web_port)
    trusted = [p.strip() for p in settings.web_trusted_proxies.split(",") if p.strip()]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,  # AccessLog writes one structured event per request
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_STOP_SECONDS,
    )
    _route_uvicorn_logs(log)
    server = _Server(config)
    host, port = sock.getsockname()[:2]
    log.info("web_started", host=host, port=port, api="/api/v1", docs="/api/v1/docs")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        log.info("web_stopped")
