"""Locate the data directories (Alembic migrations, RADIUS dictionaries).

In a wheel they ship inside the package as ``radius_server/_data/``; in a
checkout (or an editable install) they sit at the repository root. Looking in
both places keeps one code path for development and production.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data directory {name!r} not found next to the radius_server package")


def migrations_dir() -> Path:
    """Return the Alembic script directory (``db/``)."""
    return _find("db")


def dictionaries_dir() -> Path:
    """Return the directory holding our FreeRADIUS-format dictionary files."""
    return _find("dictionaries")


def dictionary_path() -> Path:
    """Return the main dictionary file, which $INCLUDEs the others."""
    return dictionaries_dir() / "dictionary"
