"""Found from the outside (sixth round), as a register whose disk filled up overnight (a log gone wild,
a USB stick of photos): ``meshpos node`` refused to start with ``cannot prepare .../node.db: disk I/O
error``, which sends the operator looking for a broken disk, and said nothing about space. SQLite cannot
grow the WAL index on a full disk and reports it as an I/O error. Now the refusal says how little room
is left where the database is and to free disk space; nothing is written, and once space is freed the
register starts with its sale. The same for the console's SQLite database.

A real ``meshpos node`` and ``meshpos console`` on a tiny tmpfs (mounting one needs root; CI runs as root).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from meshpos.config import load_config
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue
from ..store.test_full_disk import small_disk  # noqa: F401 - the tmpfs fixture
from .owner_kit import refused_start


def _fill(disk: Path) -> Path:
    """Write a file that takes every byte the disk has left; the file."""
    junk = disk / "junk"
    junk.write_bytes(b"\0" * shutil.disk_usage(disk).free)
    assert shutil.disk_usage(disk).free == 0
    return junk


def test_a_node_on_a_full_disk_says_so_and_starts_once_space_is_freed(
    tmp_path: Path,
    small_disk: Path,  # noqa: F811
) -> None:
    config = make_device(make_venue(tmp_path), small_disk, "R1")
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    sold = node.sell(CASHIER, ["espresso"])
    assert node.stop() == 0
    db = load_config(config, env={}).db_path
    before = db.read_bytes()

    junk = _fill(small_disk)
    err = refused_start(config, "a start on a full disk")
    assert f"cannot prepare {db}" in err, err
    assert "bytes free: free disk space" in err, err  # main: "disk I/O error" and nothing more
    assert db.read_bytes() == before

    junk.unlink()
    node.start()
    try:
        assert sold["id"] in node.receipt_ids()
    finally:
        assert node.stop() == 0


def test_a_console_on_a_full_disk_says_so(tmp_path: Path, small_disk: Path) -> None:  # noqa: F811
    make_venue(tmp_path)
    db = small_disk / "console.db"
    argv = [sys.executable, "-m", "meshpos", "console", "--venue", str(tmp_path / "venue")]
    argv += ["--db", f"sqlite:///{db}", "--host", "127.0.0.1", "--port", "0", "--api-port", "0"]
    argv += ["--token-file", str(tmp_path / "admin.token")]
    _fill(small_disk)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0, done.stdout[-2000:]
    assert f"cannot prepare console database {db}" in done.stderr, done.stderr[-2000:]
    assert "bytes free: free disk space" in done.stderr, done.stderr[-2000:]
