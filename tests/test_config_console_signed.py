"""``console_signed`` in node.toml, the environment and flags (issue 18, sticky): true, false or "auto"
(the default); anything else is a clear error naming the setting, where it came from and the values
it takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.config import Config, load_config
from meshpos.config_checks import InvalidSetting
from meshpos.errors import ConfigError


def _toml(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\nnode_id = "R1"\nconsole_signed = {value}\n', encoding="utf-8")
    return path


def test_auto_is_the_default() -> None:
    assert Config(node_id="R1").console_signed == "auto"
    assert load_config(env={}, overrides={"node_id": "R1"}).console_signed == "auto"


@pytest.mark.parametrize(
    ("spelled", "taken"), [("true", True), ("false", False), ('"auto"', "auto"), ('"AUTO"', "auto")]
)
def test_true_false_and_auto_are_taken(tmp_path: Path, spelled: str, taken: object) -> None:
    assert load_config(_toml(tmp_path, spelled), env={}).console_signed == taken


@pytest.mark.parametrize("spelled", ['"yes"', "1", '"on"', "[]"])
def test_any_other_value_in_node_toml_is_a_clear_error(tmp_path: Path, spelled: str) -> None:
    path = _toml(tmp_path, spelled)
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    message = str(refused.value)
    assert str(path) in message
    assert f"console_signed = {spelled}" in message
    assert 'must be true, false or "auto"' in message


def test_the_environment_says_it_too() -> None:
    env = {"MESHPOS_NODE_ID": "R1", "MESHPOS_CONSOLE_SIGNED": "true"}
    assert load_config(env=env).console_signed is True
    with pytest.raises(ConfigError, match=r"environment MESHPOS_CONSOLE_SIGNED: console_signed"):
        load_config(env={**env, "MESHPOS_CONSOLE_SIGNED": "maybe"})


def test_a_config_built_in_code_is_checked() -> None:
    with pytest.raises(InvalidSetting, match="console_signed = 'maybe'"):
        Config(node_id="R1", console_signed="maybe")  # type: ignore[arg-type]
