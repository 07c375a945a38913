"""Two registers' data dirs swapped (red, fourteenth session): R1 on R2's database.

Same venue, so the certificate check passes; the store carried no device, so R1 started on R2's
``node.db`` without a word and numbered its next receipt from R2's last sequence: R1-000002 after
R1 had issued R1-000001 to R1-000003 on its own database (tried with real processes on main: a receipt
number given twice). Now the store remembers its device (meta ``node_id``, store/owner.py) and R1
refuses to start on R2's database, naming both, with the database unchanged.
"""

from __future__ import annotations

from pathlib import Path

from ..mesh.kit import make_device, make_venue
from .owner_kit import refused_start, sold_and_moved


def test_a_register_refuses_another_registers_database(tmp_path: Path) -> None:
    venue = make_venue(tmp_path)
    r1_path, r2_path = make_device(venue, tmp_path, "R1"), make_device(venue, tmp_path, "R2")
    r1_dir, copied = sold_and_moved(r2_path, r1_path, tmp_path / "R2.log")  # R2-000001
    err = refused_start(r1_path, "R1 started on R2's database")
    assert str(r1_dir / "node.db") in err, err
    assert "device R2's" in err, err
    assert "this device is R1" in err, err
    assert (r1_dir / "node.db").read_bytes() == copied  # not marked, not changed
