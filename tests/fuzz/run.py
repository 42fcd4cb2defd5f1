"""Run one fuzz target under atheris (libFuzzer, coverage-guided).

    python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR...] | [CRASH_FILE]

e.g. ``python -m tests.fuzz.run engine -max_total_time=60 /tmp/new tests/fuzz/corpus/engine``
(new inputs are written to the first directory, so keep the checked-in corpus second),
or ``python -m tests.fuzz.run engine crash-1234`` to replay a reproducer. Only the
``radius_server`` package is instrumented for coverage.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Instrument the server's code, then hand the target to libFuzzer."""
    import atheris

    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    name = sys.argv[1]
    with atheris.instrument_imports(include=["radius_server"]):
        from tests.fuzz import peer, targets  # noqa: F401 -- peer: instrument its imports too

    if name not in targets.TARGETS:
        sys.exit(f"unknown target {name!r}; targets: {', '.join(targets.TARGETS)}")
    target = targets.TARGETS[name]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
