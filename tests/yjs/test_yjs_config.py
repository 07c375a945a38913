"""The node's ``yjs_tokens`` setting: each entry is checked, and a bad one is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.errors import ConfigError

NODE = '[node]\nnode_id = "R1"\n'
GOOD = "tablet:register:" + "t" * 22
TOKENS = f'yjs_tokens = ["{GOOD}"]\n'


def test_tokens_load_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE + f'yjs_tokens = ["{GOOD}", "board:reader:{"b" * 16}"]\n')
    assert load_config(path, env={}).yjs_tokens == (GOOD, f"board:reader:{'b' * 16}")
    env = {"MESHPOS_YJS_TOKENS": f"{GOOD},pass:kds:{'k' * 30}"}
    assert load_config(path, env=env).yjs_tokens == (GOOD, f"pass:kds:{'k' * 30}")
    path.write_text(NODE)
    assert load_config(path, env={}).yjs_tokens == ()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["t" * 24], "yjs_tokens entry 1: write <name>:<role>:<token>"),
        ([f"tablet:console:{'t' * 20}"], "entry 1 (tablet): write <name>:<role>:<token>"),
        ([f"a b:register:{'t' * 20}"], "write <name>:<role>:<token>, the name 1-32 letters"),
        (["tablet:register:short"], "the token must be at least 16 visible characters"),
        ([f"tablet:register:{'t' * 20} x"], "without spaces or commas"),
        ([GOOD, GOOD.replace("tablet", "other")], "its name or token is given twice"),
        ([GOOD, "tablet:kds:" + "k" * 20], "entry 2 (tablet): its name or token is given twice"),
    ],
)
def test_a_bad_entry_is_one_line_naming_it_without_its_token(
    tmp_path: Path, entries: list[str], message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE + "yjs_tokens = [" + ", ".join(f'"{e}"' for e in entries) + "]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert message in caught.value.message
    assert "\n" not in caught.value.message
    assert "t" * 20 not in caught.value.message  # the secret is never echoed


def test_the_token_port_loads_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE + f'yjs_tokens = ["{GOOD}"]\nyjs_port = 8766\n')
    assert load_config(path, env={}).yjs_port == 8766
    assert load_config(path, env={"MESHPOS_YJS_PORT": "9000"}).yjs_port == 9000
    path.write_text(NODE)
    assert load_config(path, env={}).yjs_port == 0  # any free port, named in the ready line


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (f"{TOKENS}yjs_port = 70000\n", "yjs_port 70000: must be a whole number from 0 to 65535"),
        (f"{TOKENS}yjs_port = -1\n", "yjs_port -1: must be a whole number from 0 to 65535"),
        (f"{TOKENS}port = 8765\nyjs_port = 8765\n", "yjs_port 8765: the mesh port or the API port"),
        (f"{TOKENS}api_port = 8080\nyjs_port = 8080\n", "yjs_port 8080: the mesh port or the API"),
        ("yjs_port = 8766\n", "yjs_port 8766: the token port serves yjs_tokens' clients only"),
    ],
)
def test_a_bad_token_port_is_one_line_naming_it(
    tmp_path: Path, settings: str, message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE + settings)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert message in caught.value.message
    assert "\n" not in caught.value.message
