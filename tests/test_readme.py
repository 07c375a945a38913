"""The README's code must run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in README.read_text().splitlines() if line.strip()]
    assert lines[1] == "```"
    assert lines[2].startswith("./run demo")
    assert lines[3].startswith("./run test")


@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", README.read_text()))))
def test_python_blocks_run(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    block = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[index]
    exec(compile(block, f"README.md python block {index}", "exec"), {})
    printed = capsys.readouterr().out
    for expected in re.findall(r"print\(.*\)\s+# (.*)", block):
        assert expected.strip() in printed
