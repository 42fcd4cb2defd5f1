"""The design lives in the repository: comments cite docs/ or RFCs, and the docs name real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "radius_server").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "bench").rglob("*.py")),
]
# Documents that are not part of this repository; citing them leaves a reader stranded.
OUTSIDE = re.compile(r"PROTOCOL-NOTES|ARCHITECTURE\b|\bshared/")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_comment_cites_a_document_outside_the_repository(path: Path) -> None:
    if path.name == "test_docs.py":
        return
    hits = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_architecture_doc_names_only_files_that_exist() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([a-z_/]+\.py|[a-z_]+/)`", text))
    assert len(named) > 20  # the doc really walks the code
    missing = [
        name
        for name in sorted(named)
        if not any(
            (base / name).exists()
            for base in (ROOT, ROOT / "radius_server", ROOT / "radius_server" / "eap")
        )
    ]
    assert missing == []
