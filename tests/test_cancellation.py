"""A cancelled task ends: meshpos bounds its waits with ``asyncio.timeout``, never ``asyncio.wait_for``.

On Python 3.11 (the oldest the project supports) ``asyncio.wait_for`` returns the awaited result instead
of raising ``CancelledError`` when the cancel arrives just as that result does, and the cancelled task
goes on. A relay's console link stopped so (the node no longer the relay) redialled for ever while the
node waited for it to end: test_console_refusals.py::test_a_relay_link_stopped_at_any_step_of_its_dial_ends,
and the CI hang of 2026-12-07. ``asyncio.timeout`` counts cancels (``Task.uncancel``) and loses none.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NOT_YET: set[str] = (
    set()
)  # modules still using it, to be converted (only shrinks; empty since aeaff99+1)


def wait_for_calls(path: Path) -> list[int]:
    """The lines of ``path`` that call or import asyncio's ``wait_for``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "wait_for"
            and isinstance(node.value, ast.Name)
            and node.value.id == "asyncio"
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio":
            lines += [node.lineno for alias in node.names if alias.name == "wait_for"]
    return sorted(lines)


def test_no_module_waits_with_asyncio_wait_for() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "meshpos").rglob("*.py"))
        if (lines := wait_for_calls(path))
    }
    unexpected = {path: lines for path, lines in found.items() if path not in NOT_YET}
    assert not unexpected, (
        f"asyncio.wait_for (use asyncio.timeout; see the docstring): {unexpected}"
    )
    assert set(found) == NOT_YET, f"converted: take them off NOT_YET: {NOT_YET - set(found)}"


def test_the_check_finds_both_spellings(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import asyncio\nfrom asyncio import wait_for\n\n"
        "async def f() -> None:\n    await asyncio.wait_for(g(), 1)\n"
    )
    assert wait_for_calls(source) == [2, 5]
