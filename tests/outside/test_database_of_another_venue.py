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

from pathlib import Path

from ..mesh.kit import make_device, make_venue
from .owner_kit import refused_start, sold_and_moved


def test_a_node_refuses_the_database_of_another_venue(tmp_path: Path) -> None:
    a, b = make_venue(tmp_path / "A"), make_venue(tmp_path / "B")
    a_path, b_path = make_device(a, tmp_path / "A", "R1"), make_device(b, tmp_path / "B", "R1")
    b_dir, copied = sold_and_moved(a_path, b_path, tmp_path / "A.log")  # B's own replaced by A's
    err = refused_start(b_path, "it started on venue A's database")
    assert str(b_dir / "node.db") in err, err
    assert a.venue_id in err, err
    assert b.venue_id in err, err
    assert (b_dir / "node.db").read_bytes() == copied  # not stamped, not changed
