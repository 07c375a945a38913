"""Found from the outside (eleventh round, hostile files): a ``node.toml`` saved by Notepad (before 2019)
or PowerShell's ``Out-File -Encoding utf8`` begins with a UTF-8 byte order mark, which no editor shows.
The node refused it with ``not valid TOML: Invalid statement (at line 1, column 1)``, pointing at a
line that reads ``[node]``. It is UTF-8 text all the same: the node starts on it."""

from __future__ import annotations

import codecs
from pathlib import Path

from ..mesh.kit import NodeProcess, make_device, make_venue


def test_a_node_starts_on_a_config_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")
    text = config.read_text(encoding="utf-8").replace("[node]", "[node]\n# Café Zürich", 1)
    config.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        assert node.call("GET", "/status")["node"] == "R1"
    finally:
        assert node.stop() == 0
