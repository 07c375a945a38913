"""Found from the outside (eleventh round, hostile files): a register's ``node.db`` that SQLite reads
whole, but with one stored update damaged (a bad sector in a blob, a disk that lied), stopped the node
at start with ``meshpos: unexpected error: ValueError: Cannot merge updates`` (or ``Cannot decode
update``): it named neither the file nor the document, nor what to do. The node still refuses to start
on it (it would sell on a day missing what it acknowledged), but says so: the file, the document, that
it was left untouched, and that a backup restored with ``meshpos restore --replace`` is the way out;
that restore then takes it (the damaged file does not read, so it is put aside) and the node sells."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=120
    )


def _rows(db: Path) -> list[tuple[int, str, bytes]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT u.seq, d.name, u.data FROM updates u JOIN documents d ON d.id = u.doc "
            "ORDER BY u.seq"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("damage", ["a day's update (merged)", "the catalog's only update"])
def test_a_damaged_stored_update_is_named_at_start_and_a_restore_mends_it(
    tmp_path: Path, damage: str
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
    finally:
        assert register.stop() == 0

    rows = _rows(config.db_path)
    by_doc: dict[str, list[int]] = {}
    for seq, name, _ in rows:
        by_doc.setdefault(name, []).append(seq)
    if damage == "the catalog's only update":
        name = "catalog"
        assert len(by_doc[name]) == 1, by_doc  # loaded as it is, never merged
    else:
        name = next(n for n in by_doc if n.startswith("ledger/") and len(by_doc[n]) > 1)
    seq = by_doc[name][-1]
    conn = sqlite3.connect(config.db_path)
    with conn:
        length = conn.execute("SELECT length(data) FROM updates WHERE seq = ?", (seq,)).fetchone()
        conn.execute("UPDATE updates SET data = ? WHERE seq = ?", (b"\xa7" * length[0], seq))
    conn.close()
    damaged = _rows(config.db_path)

    started = meshpos("node", "--config", str(config_path), "--no-discovery")
    said = started.stdout + started.stderr
    assert started.returncode == 2, said
    assert "unexpected error" not in said, said
    assert str(config.db_path) in said, said
    assert repr(name) in said, said
    assert "left untouched" in said, said
    assert "meshpos restore --replace" in said, said
    assert _rows(config.db_path) == damaged  # nothing written

    restored = meshpos(
        "restore", "--config", str(config_path), "--from", str(backup_file), "--replace"
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    register = NodeProcess(config_path, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        assert len(register.call("GET", "/api/receipts")) == 1
    finally:
        assert register.stop() == 0
