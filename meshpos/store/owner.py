"""Whose database this is, venue and device: a node refuses to start on another's.

The device's certificate is checked against node.toml (node id, role, venue: trust/identity.py), but a
``node.db`` carried neither, so a data dir holding another database started without a word (red,
fourteenth session):

- another **venue**'s (a copied data dir; a device moved to another venue and enrolled anew over its
  old data dir; venues of one owner name their registers alike): the register showed that venue's
  receipts as its own and synced its ledger and catalog (staff, PIN hashes) into this venue's mesh and
  console (tests/outside/test_database_of_another_venue.py);
- another **device**'s of the same venue (two registers' disks or data dirs swapped): R1 started on
  R2's database and numbered its next receipt from R2's last one, a number R1 had already issued
  (tests/outside/test_database_of_another_device.py).

The store's meta ``venue_id`` and ``node_id`` name them; a database without them (new, or made by a
release before this check) takes those of the node whose start succeeds on it (:func:`mark_owner`, so a
start refused later for a bad file leaves it as it was). That is the check's limit: an old database of
another venue or device, never opened by this release, is taken.
"""

from __future__ import annotations

from pathlib import Path

from meshpos.errors import StoreError
from meshpos.store.base import Store

VENUE_META = "venue_id"
NODE_META = "node_id"


async def check_owner(store: Store, venue_id: str, node_id: str, db_path: Path) -> bool:
    """Refuse a database marked for another venue or device than the certificate's, writing
    nothing; True when it has no mark yet (:func:`mark_owner` once the start succeeded)."""
    venue = await store.get_meta(VENUE_META)
    node = await store.get_meta(NODE_META)
    if venue is not None and venue != venue_id:
        raise StoreError(
            f"{db_path}: this database belongs to venue {venue}, but this device's certificate "
            f"is of venue {venue_id}: the data dir holds another venue's database (a copied data "
            "dir, or a device enrolled anew over an old one); move it away to begin an empty "
            "one, or use the device's own; nothing was changed"
        )
    if node is not None and node != node_id:
        raise StoreError(
            f"{db_path}: this database is device {node}'s, but this device is {node_id} (its "
            f"certificate): on {node}'s database {node_id} would number receipts it already "
            "issued; put each device's data dir back (disks or folders swapped?), or move this "
            "one away to begin an empty one; nothing was changed"
        )
    return venue is None or node is None


async def mark_owner(store: Store, venue_id: str, node_id: str) -> None:
    await store.append([], meta={VENUE_META: venue_id, NODE_META: node_id})
