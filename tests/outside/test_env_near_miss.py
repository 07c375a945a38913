"""A mistyped environment variable is named at the start, not ignored without a word (red, fourteenth
session): ``MESHPOS_CONSOLE_URI`` for ``MESHPOS_CONSOLE_URL`` ran a register with no console at all.

Other programs share the prefix (the docs/api.md Yjs client reads ``MESHPOS_YJS_TOKEN``, one letter
from the ``yjs_tokens`` setting), so an unknown name is a warning, and only when it nearly spells a
setting. A real ``meshpos`` process reads the variables as an operator's shell would hand them over.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from meshpos.config import near_misses


def test_a_misspelt_setting_in_the_environment_is_named_with_the_one_meant(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\nnode_id = "R1"\ndata_dir = "{tmp_path / "data"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPOS_")}
    env |= {"MESHPOS_CONSOLE_URI": "wss://console.example:8443", "MESHPOS_YJS_TOKEN": "t"}
    done = subprocess.run(
        [sys.executable, "-m", "meshpos", "status", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    warned = [line for line in done.stderr.splitlines() if "MESHPOS_CONSOLE_URI" in line]
    assert len(warned) == 1, done.stderr
    assert "did you mean MESHPOS_CONSOLE_URL?" in warned[0]
    assert "YJS_TOKEN" not in done.stderr  # a client's variable, not a near miss
    assert not (tmp_path / "data").exists()  # a status asks; it writes nothing


def test_only_near_misses_are_named() -> None:
    env = {
        "MESHPOS_API_PROT": "8791",  # api_port
        "MESHPOS_KEEP_DAY": "3",  # keep_days
        "MESHPOS_PORT": "8790",  # a setting
        "MESHPOS_BENCH_OWNER": "1",  # a bench's, nothing like a setting
        "MESHPOS_CA": "ca.pem",  # the Yjs client's
        "CONSOLE_URI": "x",  # not ours
    }
    assert near_misses(env) == [
        "environment MESHPOS_API_PROT is not a setting and is ignored: did you mean MESHPOS_API_PORT?",
        "environment MESHPOS_KEEP_DAY is not a setting and is ignored: did you mean MESHPOS_KEEP_DAYS?",
    ]
