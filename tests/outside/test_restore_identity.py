"""Found from the outside: ``meshpos restore --replace`` with the wrong USB stick.

A backup of another venue's device of the same name was restored over a device with ``--replace`` when
node.toml names no venue (it need not: the identity says it): the device's database went aside, but its
key was overwritten, so the device was lost to its own venue. The device's identity now decides its
venue like node.toml's ``venue_id`` does; and where ``--replace`` does take the backup's identity (a
replacement enrolled afresh in the same venue), the one it held is kept aside like its database.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from meshpos.backup import BackupError, backup, restore
from meshpos.harness.venue import enroll_directly, make_device, make_venue
from meshpos.trust.identity import KEY_FILE


def contents(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


async def test_a_backup_of_another_venue_is_refused_even_with_replace(tmp_path: Path) -> None:
    ours = await make_device(make_venue(tmp_path / "ours"), tmp_path / "ours", "R1")
    theirs = await make_device(make_venue(tmp_path / "theirs"), tmp_path / "theirs", "R1")
    assert not ours.venue_id  # node.toml names no venue: the identity does
    backup(theirs, tmp_path / "theirs.backup")
    before = contents(ours.data_dir)
    with pytest.raises(BackupError, match="this device belongs to venue"):
        restore(ours, tmp_path / "theirs.backup", replace=True)
    assert contents(ours.data_dir) == before


async def test_an_identity_replaced_by_a_restore_is_kept_aside(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    old = await make_device(authority, tmp_path / "old", "R1")
    backup(old, tmp_path / "R1.backup")
    elsewhere = await make_device(authority, tmp_path / "fresh", "R2")
    fresh = dataclasses.replace(elsewhere, node_id="R1")  # the replacement, enrolled anew as R1
    shutil.rmtree(fresh.identity_path)
    enroll_directly(authority, "R1", "register", fresh.identity_path, reissue=True)
    key = (fresh.identity_path / KEY_FILE).read_bytes()
    restored = restore(fresh, tmp_path / "R1.backup", replace=True)
    aside = [p for p in restored.kept_aside if p.name.startswith(fresh.identity_path.name)]
    assert [(p / KEY_FILE).read_bytes() for p in aside] == [key]
    assert (fresh.identity_path / KEY_FILE).read_bytes() == (
        old.identity_path / KEY_FILE
    ).read_bytes()
