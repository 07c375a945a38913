"""``meshpos backup`` and ``meshpos restore``: a device's identity and database in one file, taken while
its node runs, and put back on the same or a replacement device.

The database is copied with SQLite's online backup API from a read-only connection: one read
transaction sees every committed sale and nothing half-written, while the node keeps committing (WAL
readers do not block its writer). Nothing else in the data dir is needed: ``api.url`` and the lock are the
running process's, ``api.token`` is kept so apps configured with it keep working on a replacement.

A restored database is an old one: the register sold after the backup was taken. So the restore drops
the store's record of its last receipt number (meta ``receipt_seq``; see register/numbering.py): the
node then starts as a register that does not know its numbers, refuses to sell until it has been in sync
with a peer or the console, and continues after the highest number they know
(docs/architecture.md (Durability)). Its series tag is kept, so it continues the same series. Without peers or console, the
operator starts a new series (``meshpos node --new-receipt-series``), which cannot collide either.

The file holds the device's private key: it is written readable by its owner only, and is as secret as
the device.

**Changed** (the twenty-third session, part ``outside``): ``--out`` in a folder that does not exist is
refused (it was made: a backup for a USB stick that was not mounted landed on the register's own disk).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpos import __version__
from meshpos.config import Config, load_config
from meshpos.errors import MeshposError, StoreError, TrustError
from meshpos.restore_check import Unreadable, newer_writes
from meshpos.store.lock import DatabaseLock
from meshpos.store.schema import inspect
from meshpos.trust.identity import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    DeviceIdentity,
    identity_exists,
    identity_from_pems,
    load_identity,
    save_identity,
)

FORMAT = 1
MANIFEST = "meshpos-backup.json"
DATABASE = "node.db"
API_TOKEN = "api.token"
IDENTITY = ("identity/" + KEY_FILE, "identity/" + CERT_FILE, "identity/" + CA_FILE)
MEMBERS = (MANIFEST, DATABASE, API_TOKEN, *IDENTITY)
MAX_SMALL_FILE = 64 * 1024  # a manifest, a key, a certificate or a token is far smaller
NUMBERING_META = "receipt_seq"  # dropped on restore: a restored register learns its numbers again


class BackupError(MeshposError):
    """A backup cannot be made or restored; the message names the file and what is wrong."""

    code = "backup_error"


@dataclass(frozen=True, slots=True)
class Manifest:
    node_id: str
    role: str
    venue_id: str
    created_at: str
    meshpos: str
    schema: int
    receipt_seq: str | None
    database_sha256: str
    database_bytes: int

    def to_json(self) -> bytes:
        data = {"format": FORMAT, **dataclasses.asdict(self)}
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: Path) -> Manifest:
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise BackupError(
                    f"{where}: backup format {data.get('format')!r}; this meshpos reads {FORMAT}"
                )
            return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"{where}: its {MANIFEST} is unreadable ({exc})") from None


def backup(config: Config, out: Path) -> Manifest:
    """Write ``out`` (refusing to replace a file) with the device's identity and a consistent copy
    of its database, whether its node runs or not."""
    if out.exists():
        raise BackupError(f"{out}: already exists; choose a new file name (nothing was written)")
    identity = load_identity(config.identity_path)
    db = config.db_path
    if not db.is_file() or db.stat().st_size == 0:
        raise BackupError(f"{db}: no database to back up")
    if out.parent.exists() and not out.parent.is_dir():
        raise BackupError(f"{out}: {out.parent} is a file, not a folder (nothing was written)")
    if not out.parent.exists():
        # made, it put a backup meant for a USB stick or a network share that was not mounted on
        # the register's own disk, and said "backed up to": lost with the device it should outlive
        raise BackupError(
            f"{out}: the folder {out.parent} does not exist (a disk or share not mounted?); "
            "create it first (nothing was written)"
        )
    # a folder it may not write, a full disk: said in one line, nothing half-written kept
    try:
        return _write_backup(config, identity, db, out)
    except OSError as exc:
        if isinstance(exc, FileExistsError) and out.exists():  # made meanwhile: never replaced
            raise BackupError(
                f"{out}: already exists; choose a new file name (nothing was written)"
            ) from None
        raise BackupError(
            f"cannot write the backup {out}: {exc.strerror or exc} (nothing was written)"
        ) from None


def _write_backup(config: Config, identity: DeviceIdentity, db: Path, out: Path) -> Manifest:
    """:func:`backup`'s writing: a temporary file beside ``out``, linked into place when whole."""
    with tempfile.TemporaryDirectory(prefix=".meshpos-backup-", dir=out.parent) as tmp:
        copy = Path(tmp) / DATABASE
        _snapshot(db, copy)
        schema = inspect(copy)  # the copy is checked whole (quick_check) before it is kept
        seq = _meta(copy, NUMBERING_META)
        digest, size = _digest(copy)
        manifest = Manifest(
            node_id=identity.device_id,
            role=identity.role,
            venue_id=identity.venue_id,
            created_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            meshpos=__version__,
            schema=schema,
            receipt_seq=seq,
            database_sha256=digest,
            database_bytes=size,
        )
        partial = Path(tmp) / "backup.tar"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json())
            for name, pem in zip(
                IDENTITY, (identity.key_pem, identity.cert_pem, identity.ca_pem), strict=True
            ):
                _add_bytes(tar, name, pem.encode("ascii"))
            token = config.data_dir / API_TOKEN
            if token.is_file():
                _add_bytes(tar, API_TOKEN, token.read_bytes()[:MAX_SMALL_FILE])
            tar.add(copy, arcname=DATABASE)
            raw.flush()
            os.fsync(raw.fileno())
        os.link(partial, out)  # fails if ``out`` appeared meanwhile: never replaces a file
    _fsync_dir(out.parent)
    return manifest


def _snapshot(db: Path, copy: Path) -> None:
    """SQLite's online backup from a read-only connection: one consistent snapshot of what is
    committed, taken without the node's lock (its writer keeps going)."""
    try:
        source = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: cannot copy the database: {exc}") from None


def _meta(db: Path, key: str) -> str | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Restored:
    manifest: Manifest
    kept_aside: list[Path]  # what the data dir held before, renamed (nothing is deleted)


def restore(config: Config, source: Path, *, replace: bool = False) -> Restored:
    """Put the backup ``source`` into the config's data dir and identity dir.

    Refused while a node (or anything) holds the database, for a backup of another device id or role
    or of another venue than the device's identity names (even with ``replace``), and where the device already holds a database or another identity unless ``replace`` (which keeps
    the old database beside it as ``node.db.before-restore-<time>``)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".meshpos-restore-", dir=config.data_dir) as tmp:
        files = _unpack(source, Path(tmp))
        manifest = Manifest.from_json(files[MANIFEST], source)
        if config.venue_id and manifest.venue_id != config.venue_id:
            raise BackupError(
                f"{source} is a backup of venue {manifest.venue_id}, but node.toml says venue "
                f"{config.venue_id}; nothing was changed"
            )
        held = _held_venue(config.identity_path)
        if held and held != manifest.venue_id:  # a wrong backup file: --replace would lose the key
            raise BackupError(
                f"{source} is a backup of venue {manifest.venue_id}, but this device belongs to "
                f"venue {held} ({config.identity_path}); nothing was changed"
            )
        if manifest.node_id != config.node_id or manifest.role != config.role:
            raise BackupError(
                f"{source} is the backup of {manifest.node_id} ({manifest.role}), but node.toml "
                f"describes {config.node_id} ({config.role}); nothing was changed"
            )
        try:
            key, cert, ca = (files[n].decode("ascii") for n in IDENTITY)
            identity = identity_from_pems(key, cert, ca)
        except (TrustError, UnicodeDecodeError) as exc:
            raise BackupError(f"{source}: its identity is unusable ({exc})") from None
        copy = Path(tmp) / DATABASE
        if _digest(copy) != (manifest.database_sha256, manifest.database_bytes):
            raise BackupError(f"{source}: its database does not match its manifest (damaged)")
        inspect(copy)
        _forget_numbers(copy)
        lock = DatabaseLock.take(config.db_path)  # no node starts (or runs) during the restore
        try:
            if replace:
                _keep_newer(config.db_path, copy, Path(tmp))
            kept = _make_room(config, identity.cert_pem, replace=replace)
            save_identity(config.identity_path, identity, overwrite=True)
            token = config.data_dir / API_TOKEN
            if API_TOKEN in files and not token.exists():
                fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(files[API_TOKEN])
            os.replace(copy, config.db_path)
            _same_owner(config)
            _fsync_dir(config.data_dir)
        finally:
            lock.release()
    return Restored(manifest, kept)


def _same_owner(config: Config) -> None:
    """Root restoring for a service's user: what was written belongs to the data dir's owner, or the
    node (running as that user) could not open its own database and key."""
    if os.geteuid() != 0:
        return
    owner = config.data_dir.stat()
    identity = config.identity_path
    paths = [config.db_path, config.data_dir / API_TOKEN, identity]
    paths += [identity / name for name in (KEY_FILE, CERT_FILE, CA_FILE)]
    for path in paths:
        if path.exists() and (path.stat().st_uid, path.stat().st_gid) != (
            owner.st_uid,
            owner.st_gid,
        ):
            os.chown(path, owner.st_uid, owner.st_gid)


def _unpack(source: Path, into: Path) -> dict[str, bytes]:
    """The backup's small files in memory and its database in ``into``; any other member, a link,
    a path outside, or a missing part is refused before anything is written to the device."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(source, mode="r:") as tar:
            for member in tar:
                if member.name not in MEMBERS or not member.isfile() or member.name in files:
                    raise BackupError(f"{source}: unexpected member {member.name[:80]!r}")
                stream = tar.extractfile(member)
                assert stream is not None
                if member.name == DATABASE:
                    with (into / DATABASE).open("wb") as f:
                        shutil.copyfileobj(stream, f)
                    files[DATABASE] = b""
                elif member.size > MAX_SMALL_FILE:
                    raise BackupError(f"{source}: {member.name} is too large for what it is")
                else:
                    files[member.name] = stream.read()
    except FileNotFoundError:
        raise BackupError(f"{source}: no such backup file") from None
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{source}: not a meshpos backup ({exc})") from None
    missing = [n for n in (MANIFEST, DATABASE, *IDENTITY) if n not in files]
    if missing:
        raise BackupError(f"{source}: not a whole meshpos backup (missing {', '.join(missing)})")
    return files


def _forget_numbers(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (NUMBERING_META,))
    except sqlite3.Error as exc:
        raise BackupError(f"cannot prepare the restored database: {exc}") from None
    finally:
        conn.close()


def _keep_newer(db: Path, copy: Path, tmp: Path) -> None:
    """Refuse to put aside a database that holds writes the backup lacks (meshpos/restore_check.py):
    sales acknowledged after the backup was taken would leave the books. Read from a copy (with its
    WAL: a node killed holds commits there), as even a read-only connection leaves -wal and -shm
    files beside the device's."""
    if not db.is_file() or db.stat().st_size == 0:
        return
    device = tmp / "device.db"
    for suffix in ("", "-wal"):
        if db.with_name(db.name + suffix).exists():
            shutil.copyfile(db.with_name(db.name + suffix), device.with_name(device.name + suffix))
    try:
        newer = newer_writes(device, copy)
    except Unreadable:
        return  # a damaged database: what a restore is for (it is put aside, not deleted)
    if newer:
        shown = ", ".join(f"{name}: {count}" for name, count in sorted(newer.items())[:5])
        more = f" and {len(newer) - 5} more documents" if len(newer) > 5 else ""
        raise BackupError(
            f"{db} holds {sum(newer.values())} writes the backup lacks ({shown}{more}): sales "
            "made after the backup was taken would leave the books; nothing was changed. Start "
            "the node on its own database (it holds everything the backup does), or take a new "
            "backup; to discard them all the same, move node.db (and node.db-wal, node.db-shm) "
            "out of the data dir yourself and restore again"
        )


def _make_room(config: Config, cert_pem: str, *, replace: bool) -> list[Path]:
    """Check the device holds nothing the restore would overwrite, or (``replace``) rename its
    database aside. A different identity is refused unless ``replace``; it is then copied aside and
    overwritten (the backup's is the device's)."""
    db = config.db_path
    holds_data = db.is_file() and db.stat().st_size > 0
    other_identity = identity_exists(config.identity_path) and (
        _current_cert(config.identity_path) != cert_pem
    )
    if (holds_data or other_identity) and not replace:
        what = f"a database ({db})" if holds_data else f"another identity ({config.identity_path})"
        raise BackupError(
            f"this device already holds {what}; restore with --replace to put it aside "
            "(nothing was changed)"
        )
    kept: list[Path] = []
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    if other_identity:  # its key is kept too: nothing the device held is deleted
        identity = config.identity_path
        aside = identity.with_name(f"{identity.name}.before-restore-{stamp}")
        shutil.copytree(identity, aside)
        kept.append(aside)
    for suffix in ("", "-wal", "-shm"):  # a WAL of the old database must never meet the new one
        old = db.with_name(db.name + suffix)
        if old.exists():
            aside = old.with_name(f"{db.name}.before-restore-{stamp}{suffix}")
            os.replace(old, aside)
            kept.append(aside)
    return kept


def _held_venue(directory: Path) -> str:
    """The venue of the identity the device holds ("" if none, or one too damaged to read)."""
    if not identity_exists(directory):
        return ""
    with contextlib.suppress(TrustError, OSError):
        return load_identity(directory).venue_id
    return ""


def _current_cert(directory: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return (directory / CERT_FILE).read_text(encoding="ascii")
    return ""


# --- the command line ------------------------------------------------------------------------------


def add_backup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    made = sub.add_parser(
        "backup", help="write a device's identity and database to one file (while its node runs)"
    )
    made.add_argument("--config", required=True, help="the node's TOML file")
    made.add_argument("--out", required=True, type=Path, help="the backup file to write (new)")
    made.set_defaults(func=_cmd_backup)
    back = sub.add_parser(
        "restore", help="put a backup on this device (its node stopped); see README"
    )
    back.add_argument("--config", required=True, help="the node's TOML file")
    back.add_argument("--from", dest="source", required=True, type=Path, help="the backup file")
    back.add_argument(
        "--replace",
        action="store_true",
        help="the device holds a database or identity already: put them aside "
        "(node.db.before-restore-TIME, identity.before-restore-TIME) and take the backup's",
    )
    back.set_defaults(func=_cmd_restore)


def _cmd_backup(args: argparse.Namespace) -> int:
    manifest = backup(load_config(Path(args.config)), args.out)
    print(_summary(f"backed up to {args.out}", manifest), flush=True)
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config))
    restored = restore(config, args.source, replace=args.replace)
    text = _summary(f"restored {args.source} into {config.data_dir}", restored.manifest)
    for path in restored.kept_aside:
        text += f"\nkept the previous {path.name.split('.before')[0]} as {path}"
    if config.role == "register":
        text += (
            f"\n{config.node_id} sells once it has been in sync with a peer or the console, and "
            "continues after the highest receipt number they know"
        )
    print(text, flush=True)
    return 0


def _summary(what: str, manifest: Manifest) -> str:
    details: dict[str, Any] = {
        "device": manifest.node_id,
        "venue": manifest.venue_id,
        "taken": manifest.created_at,
        "database": f"{manifest.database_bytes / 1e6:,.1f} MB",
    }
    if manifest.receipt_seq is not None:
        details["last receipt"] = manifest.receipt_seq
    return f"{what}: " + ", ".join(f"{k} {v}" for k, v in details.items())
