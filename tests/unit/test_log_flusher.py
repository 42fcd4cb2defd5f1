"""LogFlusher: buffered lines written one interval after the first of a batch."""

from __future__ import annotations

import asyncio
import io
import threading

from radius_server.logging import configure_logging, get_logger
from radius_server.runtime.log_flusher import LogFlusher

INTERVAL = 0.05


def _lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_lines_are_written_in_one_batch_an_interval_after_the_first() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out, buffered=True)
    log = get_logger()

    async def scenario() -> tuple[int, int, int, list[str]]:
        flusher = LogFlusher(asyncio.get_running_loop(), INTERVAL)
        assert flusher.start()
        idle_timers = len(asyncio.get_running_loop()._scheduled)  # type: ignore[attr-defined]
        log.info("first")
        log.info("second")
        queued = len(_lines(out))
        # Another thread's line joins the same batch: it arms no timer of its own.
        worker = threading.Thread(target=lambda: log.info("from_a_thread"))
        worker.start()
        worker.join()
        await asyncio.sleep(INTERVAL * 4)
        written = len(_lines(out))
        log.info("after")  # a new batch, written by close()
        flusher.close()
        return idle_timers, queued, written, _lines(out)

    idle_timers, queued, written, lines = asyncio.run(scenario())
    assert idle_timers == 0  # an idle server has nothing scheduled
    assert queued == 0 and written == 3
    assert ['"first"' in lines[0], '"second"' in lines[1], '"after"' in lines[3]] == [True] * 3
    assert '"from_a_thread"' in lines[2]


def test_a_line_from_another_thread_into_an_empty_buffer_is_written() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out, buffered=True)
    log = get_logger()

    async def scenario() -> list[str]:
        flusher = LogFlusher(asyncio.get_running_loop(), INTERVAL)
        flusher.start()
        await asyncio.to_thread(log.info, "guard_event")
        await asyncio.sleep(INTERVAL * 4)
        lines = _lines(out)
        flusher.close()
        return lines

    lines = asyncio.run(scenario())
    assert len(lines) == 1 and '"guard_event"' in lines[0]


def test_close_writes_what_is_queued_and_stops_following() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out, buffered=True)
    log = get_logger()

    async def scenario() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        flusher = LogFlusher(loop, 60.0)
        flusher.start()
        log.info("last_words")
        flusher.close()
        lines = _lines(out)
        log.info("after_close")  # no timer armed for it: the caller flushes at exit
        live = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        return lines, len(live)

    lines, scheduled = asyncio.run(scenario())
    assert len(lines) == 1 and '"last_words"' in lines[0]
    assert scheduled == 0


def test_start_writes_the_lines_logged_before_it() -> None:
    """The server logs its start-up lines before the flusher starts: none is left behind
    (each later line would find the buffer not empty and arm no timer)."""
    out = io.StringIO()
    configure_logging("json", "info", stream=out, buffered=True)
    log = get_logger()

    async def scenario() -> tuple[list[str], list[str]]:
        log.info("server_started")
        flusher = LogFlusher(asyncio.get_running_loop(), INTERVAL)
        flusher.start()
        started = _lines(out)
        log.info("access")
        await asyncio.sleep(INTERVAL * 4)
        lines = _lines(out)
        flusher.close()
        return started, lines

    started, lines = asyncio.run(scenario())
    assert len(started) == 1 and '"server_started"' in started[0]
    assert len(lines) == 2 and '"access"' in lines[1]


def test_unbuffered_logging_has_nothing_to_flush() -> None:
    configure_logging("json", "info", stream=io.StringIO(), buffered=False)

    async def scenario() -> bool:
        return LogFlusher(asyncio.get_running_loop()).start()

    assert asyncio.run(scenario()) is False
