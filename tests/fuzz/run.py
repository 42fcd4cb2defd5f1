"""Run one fuzz target under atheris (libFuzzer, coverage-guided).

    python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR...] | [CRASH_FILE]

e.g. ``python -m tests.fuzz.run engine -max_total_time=60 /tmp/new tests/fuzz/corpus/engine``
(new inputs are written to the first directory, so keep the checked-in corpus second),
``python -m tests.fuzz.run engine crash-1234`` to replay a reproducer, or
``python -m tests.fuzz.run engine -merge=1 MERGED tests/fuzz/corpus/engine NEW`` to keep
only the inputs that add coverage. Only the ``radius_server`` package is instrumented.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _launcher() -> str:
    """An executable that starts this module again, for the children libFuzzer runs itself.

    ``-merge`` and ``-fork`` re-run argv[0] with the flags; a ``python -m`` module
    is no executable, so hand libFuzzer a two-line script (the target travels
    in RADIUS_FUZZ_TARGET).
    """
    tag = hashlib.sha1(f"{ROOT}{sys.executable}".encode(), usedforsecurity=False).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"radius-fuzz-{tag}.sh"
    path.write_text(f'#!/bin/sh\ncd "{ROOT}" && exec "{sys.executable}" -m tests.fuzz.run "$@"\n')
    path.chmod(0o755)
    return str(path)


def main() -> None:
    """Instrument the server's code, then hand the target to libFuzzer."""
    import atheris

    args = sys.argv[1:]
    name = os.environ.get("RADIUS_FUZZ_TARGET")
    if name is None:
        if not args or args[0].startswith("-"):
            sys.exit(__doc__)
        name, args = args[0], args[1:]
    os.environ["RADIUS_FUZZ_TARGET"] = name
    with atheris.instrument_imports(include=["radius_server"]):
        from tests.fuzz import peer, targets  # noqa: F401 -- peer: instrument its imports too

    if name not in targets.TARGETS:
        sys.exit(f"unknown target {name!r}; targets: {', '.join(targets.TARGETS)}")
    spawns = any(arg.startswith(("-merge=", "-fork=")) for arg in args)
    atheris.Setup([_launcher() if spawns else sys.argv[0], *args], targets.TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
