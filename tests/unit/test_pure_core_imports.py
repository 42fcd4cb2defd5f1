"""The pure core imports no I/O, no database and no clock (docs/architecture.md, Layers).

Scans the source with ``ast`` rather than importing it, so a forbidden import
inside a function or under ``if TYPE_CHECKING`` is caught as well. Imports of
``radius_server`` modules are followed transitively: a pure module must not reach
the impure glue through another module either (``policy -> directory -> store``).
Nothing but the cross-cutting modules may sit directly in ``radius_server/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import radius_server

# The pure layers (docs/architecture.md, Layers): wire formats and rules, clock passed in.
PURE_PACKAGES = ["protocol", "eap", "rules"]
FORBIDDEN = (
    "socket",
    "asyncio",
    "sqlalchemy",
    "time",
    "selectors",
    "threading",
    "structlog",
    "radius_server.store",
    "radius_server.config",
    "radius_server.admin",
    "radius_server.cli",
    "radius_server.mail",
    # The impure glue: the core must not reach it even indirectly.
    "radius_server.runtime",
)
# The only modules allowed directly under radius_server/: the cross-cutting ones.
# Anything else belongs in a layer's package (docs/architecture.md, Layers).
TOP_LEVEL_MODULES = {
    "__init__.py",
    "__main__.py",
    "config.py",
    "logging.py",
    "private_files.py",
    "resources.py",
}

PACKAGE_DIR = Path(radius_server.__file__).resolve().parent


def pure_modules() -> list[Path]:
    return sorted(p for name in PURE_PACKAGES for p in (PACKAGE_DIR / name).rglob("*.py"))


def imported_modules(path: Path, package: str = "radius_server.protocol") -> list[str]:
    """Every module ``path`` imports, relative imports resolved against ``package``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.append(base)
            # "from radius_server import store" imports radius_server.store
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN)


def module_file(module: str) -> Path | None:
    """The source file of a ``radius_server`` module; None for a name that is no module."""
    parts = module.split(".")[1:]
    candidate = PACKAGE_DIR.joinpath(*parts)
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


def reachable_imports(path: Path) -> dict[str, str]:
    """Every module ``path`` reaches, following ``radius_server`` imports: name -> importer."""
    found: dict[str, str] = {}
    queue = [path]
    seen = {path}
    while queue:
        current = queue.pop()
        importer = str(current.relative_to(PACKAGE_DIR))
        for module in imported_modules(current, package_of(current)):
            found.setdefault(module, importer)
            if module != "radius_server" and not module.startswith("radius_server."):
                continue
            target = module_file(module)
            if target is not None and target not in seen:
                seen.add(target)
                queue.append(target)
    return found


def test_pure_packages_exist() -> None:
    assert pure_modules(), "no module found under the pure packages"


def test_every_pure_package_is_a_package() -> None:
    missing = [name for name in PURE_PACKAGES if not (PACKAGE_DIR / name / "__init__.py").is_file()]
    assert missing == []


def test_no_flat_module_outside_the_cross_cutting_ones() -> None:
    flat = sorted(p.name for p in PACKAGE_DIR.glob("*.py"))
    strays = [name for name in flat if name not in TOP_LEVEL_MODULES]
    assert strays == [], f"{strays}: put them in a layer's package (rules/, runtime/, ...)"
    assert "config.py" in flat  # the glob really looked at the package


def package_of(path: Path) -> str:
    """The package a module file belongs to (for __init__.py, the package itself)."""
    return ".".join(path.relative_to(PACKAGE_DIR.parent).parent.parts)


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_forbidden_imports(path: Path) -> None:
    reached = reachable_imports(path)
    bad = sorted(f"{m} (via {via})" for m, via in reached.items() if is_forbidden(m))
    assert not bad, f"{path.name} reaches {bad}: the pure core must stay pure"


def test_checker_follows_imports_transitively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # policy -> directory -> store was the leak this catches: a clean module importing
    # a module that imports the store.
    package = tmp_path / "radius_server"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "clean.py").write_text("from radius_server import middle\n", encoding="utf-8")
    (package / "middle.py").write_text(
        "from radius_server.store.records import CustomerRecord\n", encoding="utf-8"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE_DIR", package)
    reached = reachable_imports(package / "clean.py")
    assert reached["radius_server.store.records"] == "middle.py"
    assert is_forbidden("radius_server.store.records")
    assert is_forbidden("radius_server.runtime.engine")  # the whole runtime package
    assert not is_forbidden("radius_server.rules.policy")


def test_checker_catches_forbidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\nfrom asyncio import sleep\nfrom radius_server import store\n"
        "from ..store import models\nfrom time import monotonic\n"
        "def f():\n    import socket\n",
        encoding="utf-8",
    )
    found = {m for m in imported_modules(sample) if is_forbidden(m)}
    assert found >= {"time", "asyncio", "radius_server.store", "socket"}
    assert "radius_server.store.models" in found  # the relative import, resolved
    assert not {m for m in imported_modules(sample) if not is_forbidden(m)} - {"radius_server"}
