"""The layering rules of docs/architecture.md (Layers), checked on the source so they cannot drift.

- model/ and sync/ stay pure: no event loop, sockets, clocks or I/O libraries, directly or through meshpos.
  pycrdt itself pulls in anyio (and so asyncio), so the check is on our own import statements, followed
  through every meshpos module they reach.
- No import cycle between meshpos modules (TYPE_CHECKING and function-level imports included), nor between
  packages; the web layer does not import the node, the console does not import the web layer, the tool
  packages (demo, chaos, bench) import none of each other.

One home per fact, module size and the design's citations are checked in test_structure.py.

A rule another part of issue 14 is still fixing is marked ``xfail(strict=True)`` or sits in a shrinking
allow-list: both fail once the fix is in, so the mark or the entry cannot outlive it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
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
        if path.name == "__init__.py" and within(
            name, [start]
        ):  # every module of the package checked...
            queue += [f"{name}.{p.stem}" for p in path.parent.glob("*.py") if p.stem != "__init__"]
        # ...while importing another package runs only its __init__ (and what that imports)
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


# --- the import graph -----------------------------------------------------------------------------
# Every `import` statement counts, wherever it stands: at module level, in a function, or under
# `if TYPE_CHECKING:` (a cycle that type checking needs is still a cycle in the design).


def meshpos_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the meshpos package by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted((root / "meshpos").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_modules(path: Path, package: str, modules: Iterable[str]) -> set[str]:
    """The meshpos modules a file names in its imports: ``from a import b`` names ``a.b`` if that is a
    module, else ``a``; ``import a.b`` names ``a.b``. A package's ``__init__`` counts only when it is what
    the import names (every submodule import runs it, and counting that would make every package a cycle)."""
    modules = set(modules)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {known(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                found.add(full if full in modules else known(module))
    return {m for m in found if m is not None}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """meshpos module -> the meshpos modules it imports (see :func:`imported_modules`)."""
    modules = meshpos_modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = imported_modules(path, package, modules) - {name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def reaches(
    graph: dict[str, set[str]], sources: Iterable[str], targets: Iterable[str]
) -> list[str]:
    """A chain of imports from a module in ``sources`` to one in ``targets``, or [] if there is none."""
    targets = tuple(targets)
    came_from: dict[str, str | None] = {s: None for s in sources}
    queue = list(came_from)
    while queue:
        v = queue.pop(0)
        if within(v, targets):
            chain = [v]
            while (prev := came_from[chain[-1]]) is not None:
                chain.append(prev)
            return chain[::-1]
        for w in sorted(graph.get(v, ())):
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    return []


def package_modules(graph: dict[str, set[str]], package: str) -> list[str]:
    return [m for m in graph if within(m, [package])]


GRAPH = import_graph()


def test_no_import_cycle() -> None:
    cycles = import_cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between meshpos's subpackages and top-level modules (``meshpos.sync``, ``meshpos.node``)."""

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(top(module), set()).update(
            top(t) for t in targets if top(t) != top(module)
        )
    return packages


def test_packages_form_layers() -> None:
    """No cycle between packages either: each package sits on a layer below the ones importing it."""
    cycles = import_cycles(package_graph(GRAPH))
    assert not cycles, "package cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_sees_type_checking_and_local_imports(tmp_path: Path) -> None:
    """The rule must be able to fail: a cycle closed only under TYPE_CHECKING, and one closed by an import
    inside a function, are both cycles."""
    pkg = tmp_path / "meshpos"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from meshpos.b import x\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nx = 1\nif TYPE_CHECKING:\n    from meshpos import a\n"
    )
    (pkg / "c.py").write_text("def f():\n    from meshpos.d import y\n")
    (pkg / "d.py").write_text("from meshpos.c import f\ny = 2\n")
    (pkg / "e.py").write_text("from meshpos.a import x\n")  # on no cycle
    # a package whose __init__ imports its module, which imports a sibling: no cycle
    (pkg / "p").mkdir()
    (pkg / "p" / "__init__.py").write_text("from meshpos.p.q import z\n")
    (pkg / "p" / "q.py").write_text("from meshpos.p import r\nz = r.w\n")
    (pkg / "p" / "r.py").write_text("w = 1\n")
    assert import_cycles(import_graph(tmp_path)) == [
        ["meshpos.a", "meshpos.b"],
        ["meshpos.c", "meshpos.d"],
    ]


# --- which layer may import which -----------------------------------------------------------------


def assert_no_path(package: str, targets: list[str]) -> None:
    sources = package_modules(GRAPH, package)
    assert sources, f"no module under {package}"
    chain = reaches(GRAPH, sources, targets)
    assert not chain, f"{chain[0]} imports {chain[-1]}: " + " -> ".join(chain)


def test_web_does_not_import_the_node() -> None:
    """The web layer serves a NodeAPI; only the composer (cli) knows the Node."""
    assert_no_path("meshpos.web", ["meshpos.node"])


def test_console_does_not_import_the_web_layer() -> None:
    """Both APIs stand on meshpos.httpapi; the console shares nothing else with the node's web layer."""
    assert_no_path("meshpos.console", ["meshpos.web"])


TOOLS = ("meshpos.demo", "meshpos.chaos", "meshpos.bench")


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_packages_import_none_of_each_other(tool: str) -> None:
    """demo, chaos and bench share the harness, not each other's modules."""
    assert_no_path(tool, [t for t in TOOLS if t != tool])


def test_the_path_finder_follows_a_chain() -> None:
    graph = {"meshpos.web.a": {"meshpos.x"}, "meshpos.x": {"meshpos.node"}, "meshpos.node": set()}
    assert reaches(graph, ["meshpos.web.a"], ["meshpos.node"]) == [
        "meshpos.web.a",
        "meshpos.x",
        "meshpos.node",
    ]
    assert reaches(graph, ["meshpos.x"], ["meshpos.web"]) == []


#: the one client of a node's local API (docs/architecture.md (Layers)); chaos/agent.py's urllib runs
#: inside a network namespace as a script in a string, which the parser does not see as an import
LOCAL_API_CLIENT = "meshpos.localapi"


def http_clients(modules: dict[str, Path]) -> list[str]:
    """The modules that import urllib.request (``import urllib.request`` or ``from urllib import
    request``): each one is an HTTP client of its own."""
    return sorted(
        name for name, path in modules.items() if "urllib.request" in imports_of(path, name)
    )


def test_one_client_for_the_local_api() -> None:
    """The CLI, the harness, the tools and the tests call a node's API through meshpos.localapi."""
    assert http_clients(meshpos_modules()) == [LOCAL_API_CLIENT]


def test_the_client_rule_sees_both_spellings(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import urllib.request\n")
    (tmp_path / "b.py").write_text("from urllib import request\n")
    (tmp_path / "c.py").write_text("from urllib.parse import urlsplit\n")
    modules = {p.stem: p for p in tmp_path.glob("*.py")}
    assert http_clients(modules) == ["a", "b"]
