from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.config import Config, load_config, write_config_file
from meshpos.errors import ConfigError


def test_file_env_and_flags_in_that_order(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nnode_id = "R1"\nrole = "register"\npriority = 5\ndata_dir = "/var/lib/meshpos"\n'
    )
    config = load_config(
        path, env={"MESHPOS_PRIORITY": "7", "OTHER": "x"}, overrides={"log_level": "debug"}
    )
    assert config == Config(
        node_id="R1", priority=7, data_dir=Path("/var/lib/meshpos"), log_level="DEBUG"
    )
    assert config.db_path == Path("/var/lib/meshpos/node.db")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('[node]\nnode_id = "R1"\nrole = "toaster"\n', {}, "role 'toaster'"),
        ('[node]\nnode_id = "R 1"\n', {}, "node_id 'R 1'"),
        ('[node]\nnode_id = "R1"\ncolour = "red"\n', {}, "unknown setting 'colour'"),
        ('[node]\nnode_id = "R1"\npriority = "high"\n', {}, "priority = 'high'"),
        ('[node]\nnode_id = "R1"\n', {"MESHPOS_PRIORITY": "-3"}, "priority -3"),
        ('[node]\nnode_id = "R1"\n', {"MESHPOS_PRIORITY": "x"}, "environment MESHPOS_PRIORITY"),
        ("[node\n", {}, "not valid TOML"),
        ("[node]\n", {}, "node_id is not set"),
    ],
)
def test_invalid_config_says_what_and_where(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(path, env=env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_config_is_frozen() -> None:
    config = Config(node_id="R1")
    with pytest.raises(AttributeError):
        config.role = "kds"  # type: ignore[misc]


def test_a_written_config_file_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    write_config_file(
        path,
        {"node_id": "R1", "role": "kds", "priority": 3, "mdns_interfaces": ["127.0.0.5"]},
    )
    config = load_config(path, env={})
    assert (config.node_id, config.role, config.priority) == ("R1", "kds", 3)
    assert list(config.mdns_interfaces) == ["127.0.0.5"]
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        write_config_file(path, {"node_id": "R1", "colour": "red"})
