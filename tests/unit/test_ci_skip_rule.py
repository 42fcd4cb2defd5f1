"""Under CI=true every kind of skip fails the run (tests/conftest.py hooks); xfail does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SAMPLE = """
import pytest

@pytest.mark.skip(reason="marker")
def test_marker():
    pass

@pytest.mark.skipif(True, reason="condition")
def test_condition():
    pass

def test_call():
    pytest.skip("call")

def test_import():
    pytest.importorskip("no_such_module_for_the_ci_rule")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    assert True
"""
MODULE_SKIP = 'import pytest\npytest.importorskip("no_such_module_either")\n'


def _run(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport\n"
    )
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            # A module skipped at collection is a collection error under CI: run the rest too.
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


def test_every_skip_fails_under_ci(tmp_path: Path) -> None:
    """Markers, pytest.skip, importorskip and a module-level skip all fail; xfail stays."""
    result = _run(tmp_path, "true")
    out = result.stdout
    assert result.returncode == 1, out
    for name in ("test_marker", "test_condition", "test_call", "test_import"):
        assert f"test_sample.py::{name}" in out and "CI=true and the test was skipped" in out
    assert "CI=true and the module was skipped" in out
    assert "1 passed" in out and "1 xfailed" in out and "skipped" not in out.splitlines()[-1]


def test_skips_stay_skips_locally(tmp_path: Path) -> None:
    """Without CI=true the same tests skip, with their reasons."""
    result = _run(tmp_path, "")
    last = result.stdout.splitlines()[-1]
    assert result.returncode == 0, result.stdout
    assert "5 skipped" in last and "1 passed" in last and "1 xfailed" in last
