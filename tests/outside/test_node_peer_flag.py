"""Found from the outside: ``meshpos node --peer R2@127.0.0.1:99999`` (a port typed with a digit too
many) started, dialled nothing and said nothing, so the register stayed alone with no line to say why;
a peer id no device can have (``R 2@...``) was taken too. Both are now refused in one line naming the
flag, before the node starts. A real ``meshpos node`` process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..mesh.kit import make_device, make_venue


def test_a_peer_flag_that_cannot_be_dialled_is_refused(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")  # R1.toml, data dir R1/
    for peer, words in (
        ("R2@127.0.0.1:99999", "the port must be from 1 to 65535"),
        ("R2@127.0.0.1:0", "the port must be from 1 to 65535"),
        ("R 2@127.0.0.1:9000", "device id 'R 2'"),
    ):
        refused = subprocess.run(
            [sys.executable, "-m", "meshpos", "node", "--config", str(config),
             "--peer", peer],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert refused.returncode == 2, (peer, refused.stdout, refused.stderr)
        assert refused.stderr.startswith(f"meshpos: error: --peer {peer!r}: "), refused.stderr
        assert words in refused.stderr, refused.stderr
        assert not (tmp_path / "R1" / "api.url").exists()
