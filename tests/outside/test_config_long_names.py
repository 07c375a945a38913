"""A path setting with a name longer than any file system holds (red, fourteenth session).

``data_dir = "<300 letters>"`` in a node.toml read from another directory made ``meshpos node`` end with
``unexpected error: OSError: [Errno 36] File name too long`` (config.py's check of the reading of older
releases looked the path up and did not expect that): no key named, exit code 1. Now it is a config
error naming the file, the key and why, exit code 2, and nothing is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.errors import ConfigError

LONG = "x" * 300


def test_a_path_too_long_for_any_file_system_is_a_config_error_naming_the_key(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "node.toml"
    config.write_text(f'[node]\nnode_id = "R1"\ndata_dir = "{LONG}"\n')
    run = subprocess.run(
        [sys.executable, "-m", "meshpos", "node", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # another directory than the file's: both readings are looked at
    )
    assert run.returncode == 2, run.stderr
    assert "unexpected" not in run.stderr, run.stderr
    assert f"{config}: data_dir = " in run.stderr, run.stderr
    assert "longer than 255 bytes" in run.stderr, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]  # nothing written
    assert [p.name for p in folder.iterdir()] == ["node.toml"]


@pytest.mark.parametrize("key", ["identity_dir", "console_ca_file"])
def test_every_path_setting_from_a_file_or_the_environment(tmp_path: Path, key: str) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\nnode_id = "R1"\n{key} = "a/{LONG}/b"\n')
    with pytest.raises(ConfigError, match=f"^{re.escape(str(config))}: {key} = .*longer than 255"):
        load_config(config, env={})
    env = {"MESHPOS_NODE_ID": "R1", f"MESHPOS_{key.upper()}": LONG}
    with pytest.raises(ConfigError, match=f"^environment MESHPOS_{key.upper()}: {key} = "):
        load_config(None, env=env)
