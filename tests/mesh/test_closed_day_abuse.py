"""Enrolled devices turned hostile against a node's closed business days, with a real ``meshpos node``.

Before the reopen budget (docs/architecture.md (Documents)), a sync step 1 with an empty state vector, or
one new update, for each closed day made the node load every day it ever closed (memory ~ its history).
Here R1 holds ``DAYS`` closed days in its store; devices with genuine certificates of the venue dial it
and ask for all of them (E1: step 1s from nothing), send new content for each (E2: one update a day), and
a third asks after them (E3). R1 opens only each device's share, and no more than its bound at once; the
rest is deferred: counted by cause in ``GET /api/status``, logged once per device and cause. Every ask is
still answered (the opened days in full, the others with what a closed day gives: its deletions).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.harness.wait import until
from meshpos.model.documents import ledger_name
from meshpos.sync import ReopenBudget, SyncStep1, SyncStep2, SyncUpdate
from meshpos.sync._updates import EMPTY_STATE_VECTOR
from meshpos.trust import VenueAuthority

from ..trust.helpers import issue_identity
from .attacker import Attacker
from .kit import NodeProcess, make_device, make_venue
from .test_business_days import days, past_day, write_days

DAYS = 24  # closed days in R1's store: three times what peers may have open at once
BUDGET = ReopenBudget()  # what R1 runs with (the default)
WAIT = 30.0  # a hang guard, never a synchronisation delay


@dataclass
class Bed:
    authority: VenueAuthority
    host: str
    r1: NodeProcess
    closed: list[str]  # R1's closed days (dates)


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.11"
    config = make_device(authority, tmp_path, "R1", host=host, heartbeat_interval=0.5)
    now_ms = int(time.time() * 1000)
    past = [past_day(n, now_ms) for n in range(10, 10 + DAYS)]
    write_days(config, past, closed=True)
    r1 = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"])
    try:
        r1.start()
        yield Bed(authority, host, r1, sorted(d.date for d in past))
    finally:
        r1.kill()


def new_content(client_id: int, date: str) -> bytes:
    """Something a closed day does not hold (a register may write any ledger day)."""
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.get("evil", type=Map)[date] = "x" * 200
    return doc.get_update()


def loaded(r1: NodeProcess, closed: list[str]) -> set[str]:
    """R1's closed days it holds in memory now."""
    return set(closed) & set(days(r1)["loaded"])


async def test_enrolled_devices_asking_for_every_closed_day_open_only_their_share(
    bed: Bed,
) -> None:
    r1, closed = bed.r1, bed.closed
    assert set(closed) <= set(days(r1)["closed"])
    assert not loaded(r1, closed)
    attackers = []
    for device in ("E1", "E2", "E3"):
        attacker = await Attacker.dial(
            issue_identity(bed.authority, device), "R1", bed.host, r1.port
        )
        attackers.append(attacker)
    most = 0  # closed days R1 held at once, as sampled
    share, shares = BUDGET.per_device, 2 * BUDGET.per_device

    def counted() -> dict[str, int]:
        nonlocal most
        most = max(most, len(loaded(r1, closed)))
        counters: dict[str, int] = r1.status()["counters"]
        return {k: v for k, v in counters.items() if k.startswith("closed_day_deferred_")}

    try:
        for attacker in attackers:
            await attacker.wait_for_hello()
        e1, e2, e3 = attackers
        # E1 asks for every closed day from nothing: its share opens, the rest is deferred
        await e1.send(e1.hello(client_id=4201))
        for date in closed:
            await e1.send(SyncStep1(ledger_name(date), EMPTY_STATE_VECTOR))
        past_e1 = {"closed_day_deferred_device": DAYS - share}
        await until(lambda: counted() == past_e1, WAIT, f"E1's asks counted: {past_e1}")
        # every ask of E1 is answered: its share in full, the rest with the closed day's deletions
        asked = {ledger_name(d) for d in closed}
        await until(
            lambda: asked <= {m.doc for m in e1.received if isinstance(m, SyncStep2)},
            WAIT,
            "an answer to each of E1's asks",
        )
        # E2 sends new content for every day: E1's days take it, E2's share opens, and then the
        # days open for peers at once are all taken
        await e2.send(e2.hello(client_id=4202))
        for date in closed:
            await e2.send(SyncUpdate(ledger_name(date), new_content(4202, date)))
        past_e2 = {**past_e1, "closed_day_deferred_days": DAYS - shares}
        await until(lambda: counted() == past_e2, WAIT, f"E2's updates counted: {past_e2}")
        # E3 gets nothing opened (it would ask again at its anti-entropy)
        await e3.send(e3.hello(client_id=4203))
        for date in closed:
            await e3.send(SyncStep1(ledger_name(date), EMPTY_STATE_VECTOR))
        past_e3 = {**past_e2, "closed_day_deferred_days": 2 * (DAYS - shares)}
        await until(lambda: counted() == past_e3, WAIT, f"E3's asks counted: {past_e3}")
        await until(lambda: len(loaded(r1, closed)) == shares, WAIT, "E1's and E2's shares loaded")
        most = max(most, len(loaded(r1, closed)))
        status = r1.status()
    finally:
        for attacker in attackers:
            await attacker.close()
    assert most <= BUDGET.at_once  # before the budget: all DAYS of them
    assert status["closed_days"] == {
        "closed": DAYS - shares,
        "opened_for_peers": shares,
        "parked_bytes": 0,
    }
    assert status["counters"]["days_opened_for_peers"] == shares
    logged = re.findall(r"not opening closed \S+ for (\S+) now", r1.log.read_text())
    assert sorted(logged) == ["E1", "E2", "E3"]  # once per device and cause, the rest counted
    assert r1.call("GET", "/health") is not None
