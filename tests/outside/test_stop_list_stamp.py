"""Found from the outside (third round), as a malicious enrolled kitchen device: one stop-list entry whose
clock stamp has superscript digits (``"¹.0.K9"``) stops a register selling that item, and breaks the
stop list's every read, for good.

Reads skip a record a peer wrote malformed and count it (README, "The domain model in one screen"):
``Stamp.decode`` (meshpos/model/clock.py) is meant to raise CorruptRecord for a stamp that is not
one, but it asks ``str.isdigit``, which takes ``"¹"``, and ``int`` then raises ValueError, which no
reader expects. On a real register that took the entry from a kitchen device (a stock Yjs client with
the device's certificate, as any kitchen app may connect: docs/api.md (Stock Yjs clients)): adding the
item to an order is ``write_failed`` ("the change failed (ValueError)"), and ``GET /api/stoplist``
fails, while nobody honest stopped anything. Any enrolled kitchen screen or register can send it, for
every product of the menu. The same decode reads the kitchen's ticket events.

Fixed by one reading of ASCII digits for every reader of a number (meshpos/digits.py); fails on
5761f4c.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue
from ..yjs.kit import NOTES, Bed, npm_folder


def test_a_stop_entry_with_a_forged_stamp_is_skipped_not_obeyed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    npm = npm_folder(getattr(request.config, "cache", None))
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.21"
    config = make_device(authority, tmp_path, "R1", host=host)
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    bed = Bed(node, authority, tmp_path, npm, host, {}, [])
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        kitchen = bed.client("stoplist", device="K9", role="kds")  # an enrolled kitchen screen
        assert kitchen.ask("synced")["done"]
        forged = {"stopped": True, "user": "u-kim", "device": "K9", "stamp": "\u00b9.0.K9"}
        kitchen.ask("set", root="items", key="espresso/K9", value=forged)
        kitchen.ask("set", root=NOTES, key="after", value="the forged entry")  # same link, in order
        watcher = bed.client("stoplist", device="K8", role="kds")
        assert watcher.ask("has", root=NOTES, key="after")["done"]  # R1 holds the forged entry
        assert node.call("GET", "/api/stoplist") == []  # nobody honest stopped anything
        receipt = node.sell(CASHIER, ["espresso"])  # the item still sells
        assert receipt["number"].startswith("R1-")
        assert node.status()["corrupt_records"] >= 1  # and the entry is counted as corrupt
    finally:
        for client in bed.clients:
            client.close()
        node.stop()
