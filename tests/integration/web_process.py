"""Run the real ``radius-server web`` as a subprocess on a free port (end-to-end tests)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import console_script
from tests.integration.server_process import ServerProcess, server_env


@dataclass
class WebProcess:
    """A running ``radius-server web``: its address and its log."""

    server: ServerProcess
    port: int

    @property
    def url(self) -> str:
        """The base address, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything it printed so far."""
        return self.server.output()


@contextmanager
def running_web(database_url: str, data_dir: Path, **env: str) -> Iterator[WebProcess]:
    """Start ``radius-server web --port 0`` on 127.0.0.1; SIGTERM it afterwards."""
    proc = subprocess.Popen(
        [console_script(), "web", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=server_env(database_url, data_dir, **env),
    )
    server = ServerProcess(proc)
    try:
        started = server.find("web_started", timeout=60)
        if not started:
            raise RuntimeError("radius-server web did not start:\n" + server.output()[-4000:])
        yield WebProcess(server, int(started[-1]["port"]))
    finally:
        assert server.stop() == 0, server.output()[-2000:]
