"""``meshpos.backup`` on real SQLite files: what a backup holds, and every bad input refused in one line
with nothing changed on the device."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from meshpos.backup import DATABASE, MANIFEST, NUMBERING_META, BackupError, backup, restore
from meshpos.config import Config, load_config, write_config_file
from meshpos.errors import StoreLocked
from meshpos.harness.venue import make_device, make_venue
from meshpos.store import SqliteStore
from meshpos.store.lock import DatabaseLock


@pytest.fixture
async def device(tmp_path: Path) -> Config:
    authority = make_venue(tmp_path)
    config = await make_device(authority, tmp_path, "R1")
    async with await SqliteStore.open(config.db_path) as store:
        await store.append([], meta={NUMBERING_META: "41"})
    return config


def elsewhere(config: Config, root: Path, **changes: object) -> Config:
    """The same device's node.toml on a new machine (its own data dir)."""
    values: dict[str, object] = {
        "node_id": config.node_id,
        "role": config.role,
        "data_dir": str(root / "new"),
        **changes,
    }
    path = root / "new.toml"
    write_config_file(path, values)  # type: ignore[arg-type]
    return load_config(path, env={})


async def meta(config: Config, key: str) -> str | None:
    async with await SqliteStore.open(config.db_path) as store:
        return await store.get_meta(key)


async def test_a_backup_restores_the_identity_and_database_and_forgets_the_numbers(
    device: Config, tmp_path: Path
) -> None:
    out = tmp_path / "R1.backup"
    manifest = backup(device, out)
    assert manifest.node_id == "R1"
    assert manifest.receipt_seq == "41"
    assert out.stat().st_mode & 0o777 == 0o600  # it holds the device's key
    with pytest.raises(BackupError, match="already exists"):
        backup(device, out)

    target = elsewhere(device, tmp_path)
    restored = restore(target, out)
    assert restored.kept_aside == []
    assert (target.identity_path / "device.key").read_text() == (
        device.identity_path / "device.key"
    ).read_text()
    assert await meta(target, NUMBERING_META) is None  # learns its numbers again before selling
    assert await meta(device, NUMBERING_META) == "41"  # the source is untouched

    with pytest.raises(BackupError, match="already holds a database"):
        restore(target, out)
    again = restore(target, out, replace=True)
    assert [p.name.split(".before-restore-")[0] for p in again.kept_aside] == ["node.db"]
    assert all(p.exists() for p in again.kept_aside)  # the previous database is kept, not deleted


async def test_a_backup_of_another_device_is_refused_and_changes_nothing(
    device: Config, tmp_path: Path
) -> None:
    out = tmp_path / "R1.backup"
    backup(device, out)
    target = elsewhere(device, tmp_path, node_id="R2")
    with pytest.raises(BackupError, match=r"backup of R1 .* describes R2"):
        restore(target, out)
    assert not target.db_path.exists()
    assert not target.identity_path.exists()


async def test_a_restore_while_the_data_dir_is_held_is_refused(
    device: Config, tmp_path: Path
) -> None:
    out = tmp_path / "R1.backup"
    backup(device, out)
    target = elsewhere(device, tmp_path)
    target.data_dir.mkdir(parents=True)
    lock = DatabaseLock.take(target.db_path)  # a node running there
    try:
        with pytest.raises(StoreLocked, match="in use by"):
            restore(target, out)
    finally:
        lock.release()
    assert not target.db_path.exists()


def rewrite(source: Path, target: Path, change: dict[str, bytes | None]) -> None:
    """A copy of the backup ``source`` with members replaced (bytes), dropped (None) or added."""
    with tarfile.open(source) as tar, tarfile.open(target, "w") as out:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
        for name, data in (members | change).items():
            if data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({DATABASE: b"SQLite format 3\x00" + b"\x00" * 200}, "does not match its manifest"),
        ({"../evil": b"x"}, "unexpected member '../evil'"),
        ({MANIFEST: b"{not json"}, "unreadable"),
        ({"identity/ca.pem": None}, "missing identity/ca.pem"),
    ],
    ids=["damaged database", "path outside", "bad manifest", "no venue CA"],
)
async def test_a_damaged_or_foreign_file_is_refused_before_anything_is_written(
    device: Config, tmp_path: Path, change: dict[str, bytes | None], message: str
) -> None:
    good = tmp_path / "R1.backup"
    backup(device, good)
    bad = tmp_path / "bad.backup"
    rewrite(good, bad, change)
    target = elsewhere(device, tmp_path)
    with pytest.raises(BackupError, match=message):
        restore(target, bad)
    assert not target.db_path.exists()
    assert not target.identity_path.exists()
    assert not (tmp_path / "evil").exists()


def test_not_a_backup_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"hello")
    config = Config(node_id="R1", data_dir=tmp_path / "d")
    with pytest.raises(BackupError, match="not a meshpos backup"):
        restore(config, junk)
    with pytest.raises(BackupError, match="no such backup file"):
        restore(config, tmp_path / "missing.backup")


async def test_root_restores_for_the_data_dirs_owner(device: Config, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root (CI runs as root)")
    out = tmp_path / "R1.backup"
    backup(device, out)
    target = elsewhere(device, tmp_path)
    target.data_dir.mkdir()
    service_user = (4321, 4321)  # a service's user, as systemd's DynamicUser or meshpos's own
    os.chown(target.data_dir, *service_user)
    restore(target, out)
    for path in (target.db_path, target.identity_path, target.identity_path / "device.key"):
        assert (path.stat().st_uid, path.stat().st_gid) == service_user, path
