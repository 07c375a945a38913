"""The node's commands as an operator uses them: meshpos node, status, clear-cache — and their errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from .kit import NodeProcess, make_device, make_venue


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=60
    )


def test_status_and_clear_cache_on_a_running_node_and_after_it_stops(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.11"
    config = make_device(authority, tmp_path, "R1", host=host)
    node = NodeProcess(config, tmp_path / "R1.log").start()
    try:
        shown = meshpos("status", "--config", str(config))
        assert shown.returncode == 0, shown.stderr
        assert "R1 (register): GRAY — All data is synced" in shown.stdout
        as_json = json.loads(meshpos("status", "--config", str(config), "--json").stdout)
        assert as_json["colour"] == "gray"
        assert as_json["pending"] == 0
        refused = meshpos("clear-cache", "--config", str(config))
        assert refused.returncode == 2
        assert "clear cache refused" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert node.stop() == 0  # SIGTERM: a clean shutdown
    finally:
        node.kill()
    gone = meshpos("status", "--config", str(config))
    assert gone.returncode == 2
    assert "is not running" in gone.stderr


def test_a_node_with_a_bad_config_or_no_identity_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[node]\nnode_id = "R1"\nport = 70000\n')
    done = meshpos("node", "--config", str(bad))
    assert done.returncode == 2
    assert "port 70000" in done.stderr
    lonely = tmp_path / "lonely.toml"
    lonely.write_text(f'[node]\nnode_id = "R9"\ndata_dir = "{tmp_path / "r9"}"\n')
    done = meshpos("node", "--config", str(lonely))
    assert done.returncode == 2
    assert "meshpos enroll" in done.stderr  # no identity yet: the hint says how to get one
    assert "Traceback" not in done.stderr
