"""structlog set-up: JSON lines on stdout in production, console output on a terminal.

Events are key-value; a processor drops any key that could carry a secret, as
a safety net behind the rule that code never passes one in the first place.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

from radius_server.rules.validation import escape_controls

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


def escape_control_values(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Escape control characters in text values, for the console renderer.

    It prints strings raw, and values such as ``user`` come from the wire: an
    ESC or a newline in a User-Name would drive the admin's terminal or fake a
    log line. The JSON renderer needs nothing: json.dumps escapes them.
    """
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = escape_controls(value)
    return event_dict


class BufferedLogger:
    """A structlog logger that collects lines and writes them in batches.

    One write system call per request costs more than deciding the request;
    the server flushes this buffer every few milliseconds (and on stop), so
    lines still appear at once to a reader, in order.
    """

    def __init__(self, stream: TextIO, limit: int = 64 * 1024) -> None:
        self._stream = stream
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        # Called when a line arrives in an empty buffer: an idle server's flusher
        # sleeps until then instead of waking every few milliseconds.
        self.on_first: Callable[[], None] | None = None

    def msg(self, message: str) -> None:
        """Queue one rendered line."""
        if not self._parts and self.on_first is not None:
            self.on_first()
        self._parts.append(message)
        self._size += len(message)
        if self._size >= self._limit:
            self.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg

    def flush(self) -> None:
        """Write what is queued, in whole lines."""
        if not self._parts:
            return
        parts, self._parts = self._parts, []
        self._size = 0
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):
            fd = -1
        try:
            if fd < 0:
                self._stream.write("\n".join(parts) + "\n")
                self._stream.flush()
                return
            self._stream.flush()
            for chunk in _line_chunks(parts):
                # Writes of at most PIPE_BUF octets to a pipe are atomic: several
                # worker processes sharing one stdout never interleave mid-line.
                os.write(fd, chunk)
        except (OSError, ValueError):
            pass  # stdout closed under us: losing log lines beats crashing the server


def _line_chunks(lines: list[str], limit: int = 4096) -> list[bytes]:
    """Encode lines and group them into chunks of at most ``limit`` octets (whole lines).

    One encode of the whole batch, then cuts at the last line end inside each window:
    a few C calls per chunk rather than Python work per line. A line longer than
    ``limit`` goes alone in its chunk.
    """
    data = ("\n".join(lines) + "\n").encode("utf-8", "replace")
    chunks: list[bytes] = []
    start, size = 0, len(data)
    while size - start > limit:
        cut = data.rfind(b"\n", start, start + limit)
        if cut < 0:
            cut = data.find(b"\n", start + limit)
        chunks.append(data[start : cut + 1])
        start = cut + 1
    if start < size:
        chunks.append(data[start:])
    return chunks


def _json_encoder() -> Callable[[dict[str, Any]], str]:
    """``json.dumps`` with its defaults, minus the encoder it builds on every call.

    ``json.dumps`` makes a new C encoder per call (``JSONEncoder.iterencode``); this one
    is made once. Same output: same separators, ``ensure_ascii``, float repr; anything
    JSON does not know is logged as its ``repr`` (as structlog's JSONRenderer does).
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pure-Python json: the plain call
        return lambda fields: json.dumps(fields, default=repr)
    encode = c_make_encoder(
        None,  # no circular check: the fields are flat
        repr,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    join = "".join
    return lambda fields: join(encode(fields, 0))


# A string as ``write`` encodes it (json.dumps' default, ensure_ascii): quoted, escaped.
json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[assignment]


def json_text(value: Any) -> str:
    """Any field value as ``write`` encodes it (strings, numbers, None, else its repr)."""
    if value.__class__ is str:
        return json_string(value)
    return json.dumps(value, default=repr)


class JsonLines:
    """The fast path of the per-request line (``access``, ``accounting``) of the server.

    The same line structlog's chain makes (``configure_logging`` with JSON): the
    caller's fields in their order, then ``event``, ``level`` and ``timestamp``
    (ISO 8601, UTC, microseconds, ``Z``), with the same redaction of forbidden keys,
    into the same buffer, so it stays in order with every other line. What it saves,
    once per request: structlog's bound-logger dispatch and processor calls, a new
    JSON encoder per line and a ``datetime`` per line (the date and time are formatted
    once per second). Every other event keeps going through structlog.
    """

    __slots__ = ("_encode", "_min_level", "_prefix", "_second", "_sink")

    def __init__(self, sink: BufferedLogger, level: str = "info") -> None:
        self._sink = sink
        self._min_level = _LEVELS.get(level, logging.INFO)
        self._encode = _json_encoder()
        self._second = -1
        self._prefix = ""

    def enabled(self, level: str) -> bool:
        """Whether a line at ``level`` ("debug", "info", "warning", "error") is written."""
        return _LEVELS[level] >= self._min_level

    def timestamp(self, now_ns: int) -> str:
        """``datetime.now(UTC).isoformat()`` with ``Z`` for ``now_ns`` (POSIX nanoseconds)."""
        second, micro = divmod(now_ns // 1000, 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # isoformat() leaves the fraction out when it is zero.
        return f"{self._prefix}.{micro:06d}Z" if micro else f"{self._prefix}Z"

    def write(self, level: str, event: str, fields: dict[str, Any]) -> None:
        """Queue one line (``fields`` gains event, level and timestamp); dropped below level."""
        if _LEVELS[level] < self._min_level:
            return
        if not _FORBIDDEN_KEYS.isdisjoint(fields):
            redact_secrets(None, level, fields)
        fields["event"] = event
        fields["level"] = level
        fields["timestamp"] = self.timestamp(time.time_ns())
        self._sink.msg(self._encode(fields))

    def write_object(self, level: str, event: str, body: str) -> None:
        """Queue one line whose fields the caller has already encoded: ``write``'s line.

        ``body`` is a JSON object's text up to its last field, without the closing
        brace (``'{"outcome": "accept", ...'``), encoded as ``write`` would encode the
        fields (``json_text``); ``event`` and ``level`` are plain ASCII names. The engine's
        canonical line takes this path: building it with one f-string costs a third of
        a dict plus the JSON encoder. The caller owns its keys: none may be forbidden.
        """
        if _LEVELS[level] < self._min_level:
            return
        # ``timestamp``, inline: one string built instead of two.
        micro = time.time_ns() // 1000
        second = micro // 1_000_000
        micro -= second * 1_000_000
        if second != self._second:
            self.timestamp(second * 1_000_000_000)  # a new second: its prefix
        # isoformat() leaves the fraction out when it is zero.
        tail = f'.{micro:06d}Z"}}' if micro else 'Z"}'
        self._sink.msg(
            f'{body}, "event": "{event}", "level": "{level}", "timestamp": "{self._prefix}{tail}'
        )


_buffer: BufferedLogger | None = None
_lines: JsonLines | None = None


def json_lines() -> JsonLines | None:
    """The per-request line's fast path, when the process logs JSON through the buffer.

    None otherwise (console output, unbuffered): callers then log through structlog.
    """
    return _lines


def flush_logs() -> None:
    """Write buffered log lines now (no-op unless configured with ``buffered=True``)."""
    if _buffer is not None:
        _buffer.flush()


def on_first_line(hook: Callable[[], None] | None) -> bool:
    """Call ``hook`` whenever a line arrives in an empty buffer; False when not buffered.

    The hook may run in any thread that logs.
    """
    if _buffer is None:
        return False
    _buffer.on_first = hook
    return True


def configure_logging(
    log_format: str = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    *,
    buffered: bool = False,
) -> None:
    """Configure structlog once for the process.

    ``auto`` picks console rendering when ``stream`` is a terminal, JSON otherwise.
    ``buffered`` (the server) batches writes; the caller must call flush_logs().
    """
    global _buffer, _lines
    out = stream or sys.stdout
    if log_format == "auto":
        log_format = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    if buffered:
        _buffer = BufferedLogger(out)
        buffer = _buffer

        def logger_factory(*_args: Any) -> BufferedLogger:
            return buffer

        _lines = JsonLines(buffer, level) if log_format == "json" else None
    else:
        _buffer = _lines = None
        logger_factory = structlog.PrintLoggerFactory(file=out)
    escaping = [escape_control_values] if log_format == "console" else []
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            *escaping,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=logger_factory,
        # The hot path logs once per request: resolve the processor chain once.
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None) -> Any:
    """Return a structlog logger (with ``logger=name`` when given).

    The logger stays lazy: it takes the configuration in force at its first use,
    not at import, so a module-level logger follows a later ``configure_logging``
    (or a test's ``structlog.testing.capture_logs``).
    """
    return _NamedLogger(name) if name else structlog.get_logger()


class _NamedLogger:
    """A logger bound to ``logger=name`` at each use rather than once at import.

    ``structlog.get_logger(logger=...)`` is not possible (the key is a parameter
    of ``wrap_logger``), and ``bind`` at import would freeze the processors of
    that moment. Only off the hot path: the RADIUS server logs through its own.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(structlog.get_logger().bind(logger=self._name), method)
