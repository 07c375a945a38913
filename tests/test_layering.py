"""model/ and sync/ stay pure: no event loop, sockets, clocks or I/O libraries, directly or through meshpos.

pycrdt itself pulls in anyio (and so asyncio), so the check is on our own import statements, followed
through every meshpos module they reach.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "websockets",
    "zeroconf",
    "aiosqlite",
    "anyio",
    "threading",
}


def module_file(name: str, root: Path = ROOT) -> Path | None:
    path = root.joinpath(*name.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return None


def imports_of(path: Path, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def reachable_imports(start: str, root: Path = ROOT) -> dict[str, str]:
    """Every module imported from ``start``'s package, mapped to the meshpos module that imports it."""
    seen: dict[str, str] = {}
    queue = [start]
    files = set()
    while queue:
        name = queue.pop()
        path = module_file(name, root)
        if path is None or path in files:
            continue
        files.add(path)
        if path.name == "__init__.py":
            queue += [f"{name}.{p.stem}" for p in path.parent.glob("*.py") if p.stem != "__init__"]
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in imports_of(path, package):
            seen.setdefault(imported, name)
            if imported.startswith("meshpos"):
                queue.append(imported)
    return seen


@pytest.mark.parametrize("package", ["meshpos.model", "meshpos.sync"])
def test_pure_layers_import_no_io(package: str) -> None:
    if module_file(package) is None:
        pytest.fail(f"{package} does not exist")
    imported = reachable_imports(package)
    bad = {m: by for m, by in imported.items() if m.split(".")[0] in FORBIDDEN}
    assert not bad, f"{package} reaches I/O modules: " + ", ".join(
        f"{m} (from {by})" for m, by in sorted(bad.items())
    )


def test_the_checker_catches_an_indirect_import(tmp_path: Path) -> None:
    """The rule must be able to fail: a pure module that reaches time through a helper module is caught."""
    pkg = tmp_path / "meshpos" / "model"
    pkg.mkdir(parents=True)
    (tmp_path / "meshpos" / "__init__.py").write_text("")
    (tmp_path / "meshpos" / "helpers.py").write_text("import time as _t\n")
    (pkg / "__init__.py").write_text("from .orders import x\n")
    (pkg / "orders.py").write_text("from meshpos import helpers\nx = 1\n")
    reached = reachable_imports("meshpos.model", tmp_path)
    assert reached.get("time") == "meshpos.helpers"
