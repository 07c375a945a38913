"""``meshpos restore --replace`` onto a register that sold after the backup was taken (red, fourteenth
session).

``--replace`` puts the device's database aside (``node.db.before-restore-TIME``) and takes the backup's.
On a register whose database is damaged that is the point; on one that still reads and sold after the
backup (the wrong file picked, yesterday's backup restored "to be safe") the sales it acknowledged since
went out of the books with one line of output ("kept the previous node.db as ..."): nothing reads the
aside file, and a peer or the console holds them only if they reached it before. A restore must not drop what a cashier was told is sold:
it refuses, naming the database and what it holds that the backup lacks, and changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from meshpos.backup import backup, restore
from meshpos.config import load_config
from meshpos.harness import venue as harness_venue
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=120
    )


def test_a_restore_over_a_register_that_sold_since_the_backup_refuses_and_changes_nothing(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    config_path = make_device(authority, tmp_path, "R1")
    config = load_config(config_path, env={})
    register = NodeProcess(config_path, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        register.sell(CASHIER, ["espresso"])
        backup_file = tmp_path / "R1.backup"
        taken = meshpos("backup", "--config", str(config_path), "--out", str(backup_file))
        assert taken.returncode == 0, taken.stderr
        for _ in range(2):
            register.sell(CASHIER, ["croissant"])  # acknowledged: committed
    finally:
        assert register.stop() == 0
    before = sorted(p.name for p in config.data_dir.iterdir())
    db_bytes = config.db_path.read_bytes()

    restored = meshpos(
        "restore", "--config", str(config_path), "--from", str(backup_file), "--replace"
    )
    assert restored.returncode == 2, restored.stdout + restored.stderr
    assert "nothing was changed" in restored.stderr, restored.stderr
    assert str(config.db_path) in restored.stderr, restored.stderr
    assert sorted(p.name for p in config.data_dir.iterdir()) == before
    assert config.db_path.read_bytes() == db_bytes  # its sales, as they were


async def test_a_damaged_database_is_still_put_aside_by_a_restore(tmp_path: Path) -> None:
    """What ``--replace`` is for: a database that no longer reads is compared with nothing."""
    authority = harness_venue.make_venue(tmp_path)
    config = await harness_venue.make_device(authority, tmp_path, "R1")
    backup(config, tmp_path / "R1.backup")
    config.db_path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # damaged
    restored = restore(config, tmp_path / "R1.backup", replace=True)
    aside = [p for p in restored.kept_aside if p.name.startswith("node.db.before-restore-")]
    assert aside[0].read_bytes().endswith(b"\xff" * 100)  # kept, not deleted
