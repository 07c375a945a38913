"""A node.toml with a misspelt key names the setting it was probably meant to be, before the list."""

from __future__ import annotations

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
