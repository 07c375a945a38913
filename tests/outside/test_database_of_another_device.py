"""Two registers' data dirs swapped (red, fourteenth session): R1 on R2's database.

Same venue, so the certificate check passes; the store carried no device, so R1 started on R2's
``node.db`` without a word and numbered its next receipt from R2's last sequence: R1-000002 after
R1 had issued R1-000001 to R1-000003 on its own database (tried with real processes on main: a receipt
number given twice). Now the store remembers its device (meta ``node_id``, store/owner.py) and R1
refuses to start on R2's database, naming both, with the database unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from meshpos.config import load_config
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue


def test_a_register_refuses_another_registers_database(tmp_path: Path) -> None:
    venue = make_venue(tmp_path)
    r1_path, r2_path = make_device(venue, tmp_path, "R1"), make_device(venue, tmp_path, "R2")
    r1_dir, r2_dir = load_config(r1_path, env={}).data_dir, load_config(r2_path, env={}).data_dir
    r2 = NodeProcess(r2_path, tmp_path / "R2.log", args=["--no-discovery"]).start()
    try:
        r2.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        r2.sell(CASHIER, ["espresso"])  # R2 knows its numbers: R2-000001
    finally:
        assert r2.stop() == 0
    for old in r1_dir.glob("node.db*"):
        old.unlink()
    for name in ("node.db", "node.db-wal"):
        if (r2_dir / name).exists():
            shutil.copyfile(r2_dir / name, r1_dir / name)
    copied = (r1_dir / "node.db").read_bytes()

    node = subprocess.Popen(
        [sys.executable, "-m", "meshpos", "node", "--config", str(r1_path), "--no-discovery"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = node.communicate(timeout=30)  # a refused start ends at once
    except subprocess.TimeoutExpired:
        node.kill()
        out, err = node.communicate()
        raise AssertionError(f"R1 started on R2's database: {out[-500:]}") from None
    assert node.returncode == 2, out[-2000:] + err[-2000:]
    assert "unexpected" not in err, err
    assert str(r1_dir / "node.db") in err, err
    assert "device R2's" in err, err
    assert "this device is R1" in err, err
    assert (r1_dir / "node.db").read_bytes() == copied  # not marked, not changed
