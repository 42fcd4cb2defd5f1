"""One structured log event per HTTP request: method, path, status, time, actor.

Never the query string's secrets, headers, cookies or bodies: the path and the
actor are enough to follow what happened, and the audit trail has the rest.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from radius_server.logging import get_logger


class AccessLog:
    """ASGI middleware writing ``http_request`` events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = get_logger("web")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; log it once its response has started (or failed)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            state: dict[str, Any] = scope.get("state") or {}
            self.log.info(
                "http_request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
                actor=state.get("actor"),
            )
