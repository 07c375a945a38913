"""A node.toml with a misspelt key names the setting it was probably meant to be, before the list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_a_misspelt_key_is_refused_with_the_setting_it_resembles(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[node]\nnode_id = "R1"\nlisten_hots = "127.0.0.1"\n')
    done = subprocess.run(
        [sys.executable, "-m", "meshpos", "node", "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        f"meshpos: error: {config}: unknown setting 'listen_hots' (did you mean listen_host? known: "
    )
    assert not (tmp_path / "meshpos-data").exists()


def test_a_command_without_its_config_says_to_give_it(tmp_path: Path) -> None:
    """`meshpos status` typed without --config said "node_id is not set (config file [node] node_id,
    ...)", which sends a new operator to edit a file they had right; the doctor's fix for a missing
    file was "correct the setting it names"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPOS_")}
    bare = subprocess.run(
        [sys.executable, "-m", "meshpos", "status"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert bare.returncode == 2
    assert bare.stderr == (
        "meshpos: error: no config: give --config node.toml (the device's file, with node_id under "
        "[node]), or set MESHPOS_NODE_ID\n"
    )
    doctor = subprocess.run(
        [sys.executable, "-m", "meshpos", "doctor", "--config", "nothere.toml", "--json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert doctor.returncode == 1
    (check,) = json.loads(doctor.stdout)["checks"]
    assert check["message"] == "nothere.toml: config file not found"
    assert check["fix"] == "give the path of this device's node.toml"
