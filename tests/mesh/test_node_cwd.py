"""``meshpos node`` started from any cwd finds the data dir its node.toml names relatively (beside the
file), as a service manager's or an operator's shell start it from wherever they are."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from meshpos.config import load_config

from .kit import NodeProcess, make_device, make_venue


def test_a_relative_data_dir_is_found_from_another_cwd(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.11"
    config = make_device(authority, tmp_path, "R1", host=host)
    data = load_config(config, env={}).data_dir
    assert data == tmp_path / "R1"
    text = config.read_text().replace(json.dumps(str(data)), json.dumps("R1"))
    config.write_text(text)
    assert 'data_dir = "R1"' in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    node = NodeProcess(config, tmp_path / "R1.log", prefix=["env", "-C", str(elsewhere)])
    try:
        node.start()  # before: no identity under elsewhere/R1, the node refused to start
        shown = subprocess.run(
            [sys.executable, "-m", "meshpos", "status", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=elsewhere,
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["node"] == "R1"
        assert (data / "api.url").exists()
        assert (data / "node.db").exists()
        assert list(elsewhere.iterdir()) == []  # nothing made in the cwd
        assert node.stop() == 0
    finally:
        node.kill()
