"""A relative path in node.toml is relative to the file's directory, whoever runs ``meshpos`` from where."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshpos.config import load_config


def test_a_relative_data_dir_in_the_file_is_beside_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "etc" / "meshpos"
    site.mkdir(parents=True)
    path = site / "node.toml"
    path.write_text(
        '[node]\nnode_id = "R1"\ndata_dir = "data"\nidentity_dir = "../keys/R1"\n'
        'console_ca_file = "/opt/ca.pem"\nconsole_url = "wss://c.example:8443"\n'
        'console_token = "t0123456789abcdef0123456789abcdef"\n'
    )
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path(os.path.relpath(path)), env={})
    assert config.data_dir == site / "data"
    assert config.db_path == site / "data" / "node.db"
    assert config.identity_path == tmp_path / "etc" / "keys" / "R1"
    assert config.console_ca_file == Path("/opt/ca.pem")  # absolute: as written


def test_a_flags_or_an_environment_path_is_the_cwds(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('[node]\nnode_id = "R1"\ndata_dir = "data"\n')
    assert load_config(path, env={"MESHPOS_DATA_DIR": "d"}).data_dir == Path("d")
    assert load_config(path, env={}, overrides={"data_dir": "x"}).data_dir == Path("x")
