"""uvicorn's own log records become one-line JSON events, never a traceback (web/server.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from radius_server.web import server

SECRET = "PIN 73915 in an exception's text"


@pytest.fixture
def uvicorn_logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("uvicorn")
    saved = (list(log.handlers), log.level, log.propagate)
    yield log
    log.handlers, log.level, log.propagate = saved[0], saved[1], saved[2]


def test_an_error_with_a_traceback_is_one_line(uvicorn_logger: logging.Logger) -> None:
    with structlog.testing.capture_logs() as events:
        server._route_uvicorn_logs(structlog.get_logger())
        try:
            raise RuntimeError(SECRET)
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
        logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
    assert events == [
        {"event": "uvicorn", "message": "Exception in ASGI application", "log_level": "error"},
        {"event": "uvicorn", "message": "Invalid HTTP request received.", "log_level": "warning"},
    ]
    assert SECRET not in repr(events)
    assert uvicorn_logger.propagate is False
