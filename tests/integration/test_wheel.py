"""An installed wheel finds its migrations and dictionaries, without the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_and_finds_its_data(tmp_path: Path) -> None:
    """Build the wheel, unpack it elsewhere, migrate a database and load the dictionary."""
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("radius_server-*.whl"))
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert "radius_server/_data/db/env.py" in names
    assert "radius_server/_data/dictionaries/dictionary" in names
    assert any(n.startswith("radius_server/_data/db/versions/0001") for n in names)
    # The web pages' templates and static files (issue 15) are package data.
    assert "radius_server/web/templates/base.html" in names
    assert "radius_server/web/templates/staff/sign_in.html" in names
    assert "radius_server/web/templates/member/home.html" in names
    assert "radius_server/web/static/style.css" in names
    assert "radius_server/web/static/template-preview.js" in names
    script = (
        "import radius_server.resources as r, radius_server.protocol as p;"
        "import radius_server.web.pages.rendering as w;"
        "print(r.migrations_dir()); print(r.dictionary_path());"
        "print(w.TEMPLATES_DIR); print(w.STATIC_DIR);"
        "assert w.templates.get_template('staff/sign_in.html');"
        "p.load_dictionary()"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(unpacked),
        "RADIUS_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
    }
    found = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert found.returncode == 0, found.stderr
    assert all(line.startswith(str(unpacked)) for line in found.stdout.split())
    migrated = subprocess.run(
        [sys.executable, "-m", "radius_server", "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "revision" in migrated.stdout
