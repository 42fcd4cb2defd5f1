"""The /metrics, /healthz and /readyz HTTP endpoint, in one thread beside the event loop.

One ``http.server`` thread serving one request at a time, each connection cut
after ``REQUEST_TIMEOUT`` seconds: a scraper or a stray client costs at most one
thread and never touches the RADIUS sockets. What the answers say comes from the
event loop (``on_loop``), so a scrape reads the server's structures where they
are owned, and a loop that stops answering shows as /healthz 503. The same
handler serves a worker's Unix socket under ``serve --workers N``, where the
supervisor asks each worker and merges (runtime/metrics_merge.py; see
docs/architecture.md, *Metrics and health*).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from radius_server.runtime.metrics import ServerCollector, ServerProbe, readiness
from radius_server.runtime.transport import ListenError

T = TypeVar("T")
# Seconds a client may take to send its request; then the connection is closed.
REQUEST_TIMEOUT = 5.0
# Seconds the event loop may take to hand over a reading; then /healthz says it is stuck.
LOOP_TIMEOUT = 3.0


class MetricsListenError(ListenError):
    """The metrics address cannot be bound; ``str()`` names it."""

    def __str__(self) -> str:
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"cannot listen on {where} (HTTP metrics, setting metrics_port): {self.strerror}"


class Endpoints(Protocol):
    """What the three paths answer: (HTTP status, body, content type)."""

    def metrics(self) -> tuple[int, bytes, str]:
        """/metrics."""
        ...

    def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz."""
        ...

    def ready(self) -> tuple[int, dict[str, Any]]:
        """/readyz."""
        ...


class LoopGone(Exception):
    """The event loop did not answer in time (or is closed)."""


def on_loop(loop: asyncio.AbstractEventLoop, call: Callable[[], T], timeout: float) -> T:
    """Run ``call`` on ``loop`` from another thread and return its result.

    Raises LoopGone when the loop does not run it within ``timeout`` seconds.
    """
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not done.set_running_or_notify_cancel():
            return
        try:
            done.set_result(call())
        except BaseException as exc:  # handed to the waiting thread
            done.set_exception(exc)

    try:
        loop.call_soon_threadsafe(run)
        return done.result(timeout)
    except (RuntimeError, concurrent.futures.TimeoutError) as exc:
        done.cancel()
        raise LoopGone(type(exc).__name__) from None


class ServerEndpoints:
    """The answers of one server process, read from its event loop."""

    def __init__(self, probe: ServerProbe, loop: asyncio.AbstractEventLoop) -> None:
        self.probe = probe
        self.loop = loop
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServerCollector(self._read))
        # CPU seconds, resident memory, open files of this process (radius_server_process_*).
        ProcessCollector(namespace="radius_server", registry=self.registry)

    def _read(self) -> Any:
        return on_loop(self.loop, self.probe.read, LOOP_TIMEOUT)

    def metrics(self) -> tuple[int, bytes, str]:
        """The exposition; 503 when the loop does not hand over a reading."""
        try:
            return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST
        except LoopGone:
            return 503, b"event loop not answering\n", "text/plain; charset=utf-8"

    def health(self) -> tuple[int, dict[str, Any]]:
        """Alive: the event loop runs a call within LOOP_TIMEOUT."""
        try:
            on_loop(self.loop, lambda: None, LOOP_TIMEOUT)
        except LoopGone:
            return 503, {"alive": False, "detail": "event loop not answering"}
        return 200, {"alive": True}

    def ready(self) -> tuple[int, dict[str, Any]]:
        """Ready: see metrics.readiness."""
        try:
            ok, body = readiness(self._read())
        except LoopGone:
            return 503, {"ready": False, "failed": ["event_loop"], "checks": {}}
        return (200 if ok else 503), body


def _json(status: int, body: dict[str, Any]) -> tuple[int, bytes, str]:
    return status, (json.dumps(body, sort_keys=True) + "\n").encode(), "application/json"


class _Handler(BaseHTTPRequestHandler):
    """GET /metrics, /healthz, /readyz; anything else 404 (or http.server's 400/501)."""

    server_version = "radius-server"
    sys_version = ""  # no Python version in the Server header
    timeout = REQUEST_TIMEOUT
    endpoints: Endpoints
    log: Any

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                status, body, content_type = self.endpoints.metrics()
            elif path == "/healthz":
                status, body, content_type = _json(*self.endpoints.health())
            elif path == "/readyz":
                status, body, content_type = _json(*self.endpoints.ready())
            else:
                status, body, content_type = _json(404, {"error": "not found", "path": path[:100]})
        except Exception as exc:  # a bug costs one answer, never the thread
            self.log.error("metrics_request_failed", path=path[:100], error=type(exc).__name__)
            status, body, content_type = _json(500, {"error": "internal error"})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: a scrape every few seconds would drown the access lines."""

    def address_string(self) -> str:
        # A Unix socket's peer has no address (http.server indexes it for its log).
        return self.client_address[0] if self.client_address else "unix"


class _TcpServer(HTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up or timed out: nothing to report, and no traceback on stderr.
        pass


class _UnixServer(socketserver.UnixStreamServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class MetricsServer:
    """The endpoint's listening socket and its one thread."""

    def __init__(self, server: socketserver.BaseServer, where: str) -> None:
        self._server = server
        self.where = where
        self._thread = threading.Thread(
            target=server.serve_forever, name="metrics-http", daemon=True
        )

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port bound (0 for a Unix socket)."""
        address = self._server.server_address
        return int(address[1]) if isinstance(address, tuple) else 0

    def close(self) -> None:
        """Stop serving and release the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=REQUEST_TIMEOUT + 1)
        self._server.server_close()


def _handler(endpoints: Endpoints, log: Any) -> type[_Handler]:
    return type("Handler", (_Handler,), {"endpoints": endpoints, "log": log})


def serve_tcp(host: str, port: int, endpoints: Endpoints, log: Any) -> MetricsServer:
    """Listen on ``host:port`` (0: any free port) and serve; raises MetricsListenError."""
    try:
        ipv6 = ipaddress.ip_address(host.split("%")[0]).version == 6
    except ValueError:
        try:
            ipv6 = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0] == socket.AF_INET6
        except OSError as exc:
            raise MetricsListenError(host, port, exc) from exc
    server_class = type(
        "Server", (_TcpServer,), {"address_family": socket.AF_INET6 if ipv6 else socket.AF_INET}
    )
    try:
        server = server_class((host, port), _handler(endpoints, log))
    except OSError as exc:
        raise MetricsListenError(host, port, exc) from exc
    metrics = MetricsServer(server, f"{host}:{server.server_address[1]}")
    metrics.start()
    return metrics


def serve_unix(path: str, endpoints: Endpoints, log: Any) -> MetricsServer:
    """Serve on a Unix socket at ``path`` (a worker's, for its supervisor)."""
    if os.path.exists(path):
        os.unlink(path)  # a dead worker's; the directory is the supervisor's own
    server = _UnixServer(path, _handler(endpoints, log))
    metrics = MetricsServer(server, path)
    metrics.start()
    return metrics
