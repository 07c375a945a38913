"""A backup to a USB stick that is not mounted (tenth outside round, the twenty-third session).

The owner's cron job runs ``meshpos backup --config node.toml --out /media/usb/backups/R1-DATE.backup``
each night. One night the stick is not plugged in: ``/media/usb`` is gone (an automounter's folder)
and ``meshpos backup`` made it, wrote the backup on the register's own disk and said "backed up to
/media/usb/backups/...". The backup that was to outlive the register dies with it, and nobody learns it
until it is needed. Now a folder that does not exist is refused in one line naming it, with exit code 2,
and nothing is made. A real ``meshpos backup`` process on an enrolled device.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from meshpos.harness.venue import make_device, make_venue

from .test_backup_destination import backup


def test_a_backup_to_a_folder_that_is_not_there_is_refused(tmp_path: Path) -> None:
    config = asyncio.run(make_device(make_venue(tmp_path), tmp_path, "R1"))
    stick = tmp_path / "media" / "usb"  # where the stick is mounted when it is plugged in
    out = stick / "backups" / "R1-2026-12-07.backup"
    done = backup(tmp_path / "R1.toml", out)
    assert done.returncode == 2, done.stdout + done.stderr  # main: 0, "backed up to ..."
    assert done.stderr.strip().splitlines() == [
        f"meshpos: error: {out}: the folder {out.parent} does not exist (a disk or share not "
        "mounted?); create it first (nothing was written)"
    ]
    assert not (tmp_path / "media").exists()  # main: made, the backup in it on this disk
    assert config.db_path.is_file()

    stick.mkdir(parents=True)  # plugged in (its folder there): the same command writes
    (stick / "backups").mkdir()
    done = backup(tmp_path / "R1.toml", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary left
