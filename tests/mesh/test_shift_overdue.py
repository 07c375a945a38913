"""A shift left open past its business day says so (the twentieth session, part longshift): a real
register process whose store holds a shift it opened three days ago, never closed.

Before, nothing warned: the status stayed green while every day since the shift opened stayed loaded
on every device (its records count in its drawer) and each X read them all. Now its status (``GET
/status``, ``meshpos status``, the register page's banner) says "shift open since <date>: close it"
until the shift is closed; a shift opened today says nothing.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER
from meshpos.store import SqliteStore

from .kit import CATALOG, NodeProcess, make_device, make_venue

DAY_MS = 86_400_000


def _shift_left_open(days_ago: int) -> tuple[str, dict[str, bytes]]:
    """R1's documents with a shift it opened ``days_ago`` days ago and one sale, never closed."""
    at = int(time.time() * 1000) - days_ago * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device="R1", role="register")
    venue.open_shift_now(CASHIER, 0, at)
    order = venue.open_order(CASHIER, at)
    venue.add_line(CASHIER, order.id, "espresso", 1, at)
    venue.pay(CASHIER, order.id, "card", at)
    date = venue.business_date(at)
    return date, {n: replica.doc(n).get_update() for n in replica.names() if n != "catalog"}


async def _write(db: Path, updates: dict[str, bytes]) -> None:
    async with await SqliteStore.open(db) as store:
        await store.append(list(updates.items()))


@pytest.mark.slow
def test_a_shift_open_since_days_says_so_until_closed(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.11"
    config = make_device(authority, tmp_path, "R1", host=host)
    date, updates = _shift_left_open(3)
    asyncio.run(_write(load_config(config, env={}).db_path, updates))
    node = NodeProcess(config, tmp_path / "R1.log", ["--no-discovery"]).start()
    words = f"shift open since {date}: close it"
    try:
        wait_for(lambda: node.status().get("shift") == words, 30, words, on=[node.events])
        shown = subprocess.run(
            [sys.executable, "-m", "meshpos", "status", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert f"SHIFT: {words}" in shown, shown
        node.call("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
        wait_for(lambda: node.status()["shift"] == "", 30, "the warning gone", on=[node.events])
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        assert node.status()["shift"] == ""  # a shift of today's business day: nothing to say
    finally:
        node.kill()
