"""structlog set-up: JSON lines on stdout in production, console output on a terminal.

Events are key-value; a processor drops any key that could carry a secret, as
a safety net behind the rule that code never passes one in the first place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

# Keys that must never reach a log line, whatever a caller passes.
_FORBIDDEN_KEYS = frozenset(
    {"pin", "password", "secret", "shared_secret", "user_password", "smtp_password", "new_pin"}
)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Replace the value of any forbidden key with a marker."""
    for key in _FORBIDDEN_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(
    log_format: str = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog once for the process.

    ``auto`` picks console rendering when ``stream`` is a terminal, JSON otherwise.
    """
    out = stream or sys.stdout
    if log_format == "auto":
        log_format = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # The hot path logs once per request: resolve the processor chain once.
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None) -> Any:
    """Return a structlog logger (bound to ``logger=name`` when given)."""
    log = structlog.get_logger()
    return log.bind(logger=name) if name else log
