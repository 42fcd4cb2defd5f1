"""Run the real ``radius-server serve`` as a subprocess for end-to-end tests.

The server binds port 0 and reports the real ports in its ``server_started``
JSON line; a reader thread collects every log line so tests can assert on them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import console_script, ensure_database

# How often to look for new log lines (the server flushes its log every 20 ms).
POLL_SECONDS = 0.02


class ServerProcess:
    """A running server: its ports, its log events, and a way to stop it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.raw_lines: list[str] = []
        self._lock = threading.Lock()
        self._started = threading.Event()
        self.auth_port = 0
        self.acct_port = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.raw_lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(event)
            if event.get("event") == "server_started":
                self.auth_port = int(event["auth_port"])
                self.acct_port = int(event["acct_port"])
                self._started.set()

    def wait_started(self, timeout: float = 60.0) -> None:
        """Block until the server is listening, or raise with its output.

        Generous for the same reason as ``wait_for_all``: with ``--workers`` every
        process imports the server and loads the directory at once, and on a CI box
        at load 15-20 that has taken most of 20 s. A timeout, not a measurement."""
        if not self._started.wait(timeout):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.raw_lines[-40:]))

    def mark(self) -> int:
        """A position in the log: pass it as ``since`` to see only what is logged after it."""
        with self._lock:
            return len(self.events)

    def find(
        self,
        event: str,
        *,
        at_least: int = 1,
        since: int = 0,
        timeout: float = 5.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
        **fields: Any,
    ) -> list[dict[str, Any]]:
        """Log events named ``event`` whose fields match, once ``at_least`` of them are there.

        The server writes its log in batches, so lines arrive a little after the
        answers: poll until enough have arrived or ``timeout`` passes, then
        return what there is (possibly fewer; the caller asserts). Lines come in
        the order things happened, so to check that something was logged exactly
        once, first wait for a line logged after it.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching(event, fields, since, where)
            if len(found) >= at_least or time.monotonic() >= deadline:
                return found
            time.sleep(POLL_SECONDS)

    def _matching(
        self,
        event: str,
        fields: dict[str, Any],
        since: int = 0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.events[since:]
                if e.get("event") == event
                and all(e.get(k) == v for k, v in fields.items())
                and (where is None or where(e))
            ]

    def wait_for(
        self, event: str, timeout: float = 5.0, since: int = 0, **fields: Any
    ) -> dict[str, Any]:
        """Wait until a matching event is logged; return the latest."""
        found = self.find(event, timeout=timeout, since=since, **fields)
        if not found:
            raise AssertionError(f"no {event} {fields} in log:\n" + "".join(self.raw_lines[-30:]))
        return found[-1]

    def wait_for_all(self, event: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until ``count`` matching events were logged (e.g. one per worker).

        The default is generous: workers start one after another and each loads the
        directory, which on a loaded CI box has taken longer than 20 s."""
        found = self.find(event, at_least=count, timeout=timeout)
        if len(found) < count:
            raise AssertionError(f"fewer than {count} {event} in log:\n" + self.output()[-3000:])
        return found

    def output(self) -> str:
        """Everything the server printed so far."""
        with self._lock:
            return "".join(self.raw_lines)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)
        return self.proc.returncode


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a server or CLI run against ``database_url`` (created if missing)."""
    ensure_database(database_url)
    env = {
        **os.environ,
        "RADIUS_DATABASE_URL": database_url,
        "RADIUS_DATA_DIR": str(data_dir),
        "RADIUS_LOG_FORMAT": "json",
        "RADIUS_LOG_LEVEL": "debug",
        # Any free port for /metrics: the default 9812 would collide between servers.
        "RADIUS_METRICS_PORT": "0",
    }
    # An empty config file: a ./radius-server.toml in the checkout (run.sh writes one)
    # must not reach the tests.
    env["RADIUS_CONFIG"] = os.devnull
    env.update(extra)
    return env


@contextmanager
def running_server(
    database_url: str, data_dir: Path, *args: str, **env: str
) -> Iterator[ServerProcess]:
    """Start ``radius-server serve`` on 127.0.0.1 with free ports; stop it afterwards."""
    proc = subprocess.Popen(
        [
            console_script(),
            "serve",
            "--host",
            "127.0.0.1",
            "--auth-port",
            "0",
            "--acct-port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=server_env(database_url, data_dir, **env),
    )
    server = ServerProcess(proc)
    try:
        server.wait_started()
        yield server
    finally:
        server.stop()


def terminal_env(home: Path, **settings: str) -> dict[str, str]:
    """A new terminal's environment: no RADIUS_* inherited but ``settings``, its own HOME
    (so the default data dir is a fresh one under it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIUS_")}
    env["HOME"] = str(home)
    env.pop("XDG_DATA_HOME", None)
    # Tests never bind fixed ports: /metrics on any free one (a test may override it).
    env["RADIUS_METRICS_PORT"] = "0"
    env.update(settings)
    return env


def spawn(argv: list[str], *, cwd: Path, env: dict[str, str]) -> ServerProcess:
    """Start a long-running command (run.sh, demo, serve) with its output collected."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return ServerProcess(proc)
