"""A data dir holding another venue's database (red, fourteenth session).

Two venues of one owner name their registers alike ("R1"); a technician copies a data dir, or a device
moved to the other venue is enrolled anew over its old data dir. The device's certificate is checked
against node.toml (node id, role, venue), but ``node.db`` carried no venue: venue B's R1 started on venue
A's database without a word, showed A's receipts as its own and went on with A's receipt numbers, and
would have synced A's ledger and catalog (its users and their PIN hashes) into venue B's mesh and
console. Now the store remembers its venue (meta ``venue_id``, written at the first start of a
database that has none) and a node whose certificate names another venue refuses to start, naming the
file and both venues, with the database unchanged. A database made by a release before this one has
no mark: it takes the venue of the first start (the limit of the check).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from meshpos.config import load_config
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue


def test_a_node_refuses_the_database_of_another_venue(tmp_path: Path) -> None:
    a, b = make_venue(tmp_path / "A"), make_venue(tmp_path / "B")
    a_path, b_path = make_device(a, tmp_path / "A", "R1"), make_device(b, tmp_path / "B", "R1")
    a_dir, b_dir = load_config(a_path, env={}).data_dir, load_config(b_path, env={}).data_dir
    register = NodeProcess(a_path, tmp_path / "A.log", args=["--no-discovery"]).start()
    try:
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        register.sell(CASHIER, ["espresso"])
    finally:
        assert register.stop() == 0
    for old in b_dir.glob("node.db*"):  # B's own (seeded) database replaced by A's
        old.unlink()
    for name in ("node.db", "node.db-wal"):
        if (a_dir / name).exists():
            shutil.copyfile(a_dir / name, b_dir / name)
    copied = (b_dir / "node.db").read_bytes()

    node = subprocess.Popen(
        [sys.executable, "-m", "meshpos", "node", "--config", str(b_path), "--no-discovery"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = node.communicate(timeout=30)  # a refused start ends at once
    except subprocess.TimeoutExpired:
        node.kill()
        out, err = node.communicate()
        raise AssertionError(f"it started on venue A's database: {out[-500:]}") from None
    run = subprocess.CompletedProcess(node.args, node.returncode, out, err)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert "unexpected" not in run.stderr, run.stderr
    assert str(b_dir / "node.db") in run.stderr, run.stderr
    assert a.venue_id in run.stderr, run.stderr
    assert b.venue_id in run.stderr, run.stderr
    assert (b_dir / "node.db").read_bytes() == copied  # not stamped, not changed
