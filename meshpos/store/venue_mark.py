"""Which venue a database belongs to: a node refuses to start on another venue's.

The device's certificate is checked against node.toml (node id, role, venue: trust/identity.py), but a
``node.db`` carried no venue, so a data dir holding another venue's database (a copied data dir, a
device moved to another venue and enrolled anew over its old data dir: venues of one owner name their
registers alike) started without a word: the register showed that venue's receipts as its own, went on
with its receipt numbers, and synced its ledger and catalog (staff and PIN hashes) into this venue's
mesh and console (red, fourteenth session; tests/outside/test_database_of_another_venue.py).

The store's meta ``venue_id`` names the venue; a database without one (new, or made by a release before
this check) takes the venue of the node that opens it, once its start succeeded. That is the
check's limit: an old database of another venue, never opened by this release, is taken.
"""

from __future__ import annotations

from pathlib import Path

from meshpos.errors import StoreError
from meshpos.store.base import Store

VENUE_META = "venue_id"


async def check_venue(store: Store, venue_id: str, db_path: Path) -> bool:
    """Refuse a database marked for another venue than ``venue_id`` (the device's certificate's),
    writing nothing; True when it has no mark yet (:func:`mark_venue` once the start succeeded: a
    start refused later, for a bad file, must leave the database as it was)."""
    held = await store.get_meta(VENUE_META)
    if held is not None and held != venue_id:
        raise StoreError(
            f"{db_path}: this database belongs to venue {held}, but this device's certificate "
            f"is of venue {venue_id}: the data dir holds another venue's database (a copied data "
            "dir, or a device enrolled anew over an old one); move it away to begin an empty "
            "one, or use the device's own; nothing was changed"
        )
    return held is None


async def mark_venue(store: Store, venue_id: str) -> None:
    await store.append([], meta={VENUE_META: venue_id})
