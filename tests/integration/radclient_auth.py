"""Access-Requests from Debian's radclient, with Message-Authenticator (our NAS default)."""

from __future__ import annotations

import subprocess

from tests.conftest import require_tool


def radclient_auth(
    port: int, secret: str, pairs: str, *, retries: int = 2, timeout: int = 3
) -> subprocess.CompletedProcess[str]:
    """One Access-Request to 127.0.0.1:``port``, ``pairs`` in radclient's syntax (``-x`` output)."""
    tool = require_tool("radclient")
    return subprocess.run(
        [tool, "-x", "-r", str(retries), "-t", str(timeout), f"127.0.0.1:{port}", "auth", secret],
        # A NAS record requires Message-Authenticator by default (BlastRADIUS).
        input=f"{pairs}, Message-Authenticator = 0x00\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
