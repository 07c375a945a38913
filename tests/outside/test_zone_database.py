"""Found from the outside (third round), as a register on a machine without the system's time zone
database (Windows, a "slim" container image, a minimal install without the tzdata package): once the
console's Settings name the venue's time zone (``Europe/Paris``), the register stops: ``meshpos node``
refuses to start with "venue setting timezone 'Europe/Paris' is not a known time zone", and a running
one refuses every sale, since each sale's business day is read on the venue's clock. The console, on a
machine that has the database, took the zone, so nothing told the owner until the till stopped.

meshpos now depends on the ``tzdata`` package, which Python's ``zoneinfo`` reads when the system has no
database. A real ``meshpos node`` with ``PYTHONTZPATH`` naming no database (what such a machine has)
starts and sells, and its receipt goes to the business day Paris's clock says.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from meshpos.model import Replica, Venue
from meshpos.model.documents import CATALOG
from meshpos.model.sample import CASHIER, sample_catalog

from ..mesh.kit import NodeProcess, make_device, make_venue

ZONE = "Europe/Paris"


def _catalog_in(zone: str) -> bytes:
    """The sample catalog, its settings on ``zone``'s clock (as the console's Settings write it)."""
    replica = Replica()
    catalog = Venue(replica, device="console", role="console").catalog
    sample_catalog(catalog, pin_hash="x")
    catalog.put_settings(dataclasses.replace(catalog.settings(), timezone=zone))
    return replica.doc(CATALOG).get_update()


def test_a_register_without_a_system_zone_database_keeps_selling(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=_catalog_in(ZONE))
    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    no_database = ["env", f"PYTHONTZPATH={empty}"]  # zoneinfo finds no zone on the system
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"], prefix=no_database)
    node.start()
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        receipt = node.sell(CASHIER, ["espresso"])
        days = node.call("GET", "/api/days")
        paris = datetime.datetime.fromtimestamp(receipt["issued_at_ms"] / 1000, ZoneInfo(ZONE))
        assert days["today"] == (paris - datetime.timedelta(hours=4)).date().isoformat(), days
    finally:
        node.stop()
