"""A relative path in node.toml is relative to the file's directory, whoever runs ``meshpos`` from where."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.errors import ConfigError
from meshpos.trust.identity import KEY_FILE


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


def test_an_upgraded_device_whose_data_was_read_from_the_cwd_is_refused_not_started_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releases before this one read a relative path of the file from the cwd: a device upgraded with
    such a node.toml, run from the directory its data is in, would have started on an empty one."""
    site = tmp_path / "etc"
    site.mkdir()
    path = site / "node.toml"
    path.write_text('[node]\nnode_id = "R1"\ndata_dir = "data"\nidentity_dir = "keys"\n')
    service = tmp_path / "srv"
    (service / "data").mkdir(parents=True)
    (service / "data" / "node.db").write_bytes(b"a day of sales")
    monkeypatch.chdir(service)
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert str(refused.value) == (
        f"{path}: data_dir = 'data' is read beside the file ({site / 'data'}), which holds no "
        f"node.db; {service / 'data'} (the reading of releases before this one, from the current "
        f"directory) holds one: write data_dir = '{service / 'data'}' in {path} to keep using it"
    )
    (service / "keys").mkdir()
    (service / "keys" / KEY_FILE).write_bytes(b"key")
    path.write_text(
        f'[node]\nnode_id = "R1"\ndata_dir = "{service / "data"}"\nidentity_dir = "keys"\n'
    )
    with pytest.raises(ConfigError, match=r"identity_dir = 'keys' is read beside the file"):
        load_config(path, env={})
    # once the file's own reading holds its data (or the cwd's holds none), it is used
    (site / "keys").mkdir()
    (site / "keys" / KEY_FILE).write_bytes(b"key")
    assert load_config(path, env={}).identity_path == site / "keys"
    monkeypatch.chdir(tmp_path)
    assert load_config(site / "node.toml", env={}).data_dir == service / "data"
