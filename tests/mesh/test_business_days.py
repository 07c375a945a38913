"""Business days close and unload, with real processes (issue 15): a console and registers on loopback.

* Past days every register holds close on every node once the console holds them, stay closed across
  anti-entropy rounds and a restart.
* A manager ends the day early; a register offline meanwhile sells on the ended day and comes back: its
  late sale reaches every node and the console's reports, and the day closes again everywhere.
* A refund of a receipt 200 days old (its day closed in the store, as a node closes it) loads its day on
  demand through the API; so does a read of an old day's receipts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meshpos.bench.history_fixture import close_stored_days
from meshpos.config import load_config
from meshpos.harness.internet import InternetLink
from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model import Replica, Venue
from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.store import SqliteStore
from meshpos.store.base import summarize
from meshpos.trust import VenueAuthority
from meshpos.trust.console_key import issue_console_key

from .kit import CATALOG, ConsoleProcess, NodeProcess, make_device, make_venue

DAY_MS = 86_400_000
IDLE_S = 1.0  # day_idle_seconds of every node here
HEARTBEAT_S = 0.5
ANTI_ENTROPY_S = 5 * HEARTBEAT_S  # SyncConfig.paced


@dataclass(frozen=True)
class PastDay:
    date: str
    updates: dict[str, bytes]  # its ledger and kitchen documents
    receipts: list[str]
    numbers: list[str]

    @property
    def update(self) -> bytes:
        return self.updates[ledger_name(self.date)]


def past_day(days_ago: int, now_ms: int, sales: int = 2) -> PastDay:
    """A closed-out day a register sold ``days_ago`` days before ``now_ms``: a shift opened, ``sales``
    receipts (each sent to the kitchen too), the shift closed (nothing of it is still open). The register is ``P<days_ago>``, so
    receipt numbers differ between days."""
    at = now_ms - days_ago * DAY_MS
    replica = Replica()
    replica.apply("catalog", CATALOG)
    venue = Venue(replica, device=f"P{days_ago}", role="register")
    venue.open_shift_now(CASHIER, 0, at)
    receipts, numbers = [], []
    for i in range(sales):
        order = venue.open_order(CASHIER, at + i)
        venue.add_line(CASHIER, order.id, "espresso", 1, at + i)
        venue.send_to_kitchen(CASHIER, order.id, at + i)
        paid = venue.pay(CASHIER, order.id, "card", at + i)
        assert paid.receipt is not None
        receipts.append(paid.receipt.id)
        numbers.append(paid.receipt.number)
    venue.close_shift(CASHIER, 0, at + sales)
    date = venue.business_date(at)
    updates = {
        name: replica.doc(name).get_update() for name in (ledger_name(date), kitchen_name(date))
    }
    return PastDay(date, updates, receipts, numbers)


async def _write_days(
    db: Path, days: list[PastDay], *, closed: bool, kitchen: bool, signed: bool
) -> None:
    async with await SqliteStore.open(db) as store:
        await store.append([item for d in days for item in d.updates.items()])
        if closed:
            await close_stored_days(store, [(d.date, d.update) for d in days], signed=signed)
        for d in days if kitchen else ():  # its kitchen closed too, as a node's DayCloser does
            name = kitchen_name(d.date)
            await store.close_day(name, *summarize(d.updates[name]), ())
            if signed:
                await store.confirm_closed(name)


def write_days(
    config: Path,
    days: list[PastDay],
    *,
    closed: bool = False,
    kitchen: bool = False,
    signed: bool = False,
) -> None:
    """``days`` in the node's store: open, or closed (the ledger; the kitchen too with ``kitchen``);
    ``signed``: closed on the console's signed word, as a strict register closes them."""
    db = load_config(config, env={}).db_path
    asyncio.run(_write_days(db, days, closed=closed, kitchen=kitchen, signed=signed))


@dataclass
class Bed:
    root: Path
    authority: VenueAuthority
    console: ConsoleProcess
    prefix: str
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    links: list[InternetLink] = field(default_factory=list)

    def register(
        self, name: str, index: int, console_port: int | None = None, **settings: Any
    ) -> Path:
        config = make_device(
            self.authority,
            self.root,
            name,
            host=f"{self.prefix}.{index}",
            heartbeat_interval=HEARTBEAT_S,
            day_idle_seconds=IDLE_S,
            priority=index,
            console_url=f"ws://127.0.0.1:{console_port or self.console.port}",
            console_token=self.authority.console_token,
            **settings,
        )
        self.nodes[name] = NodeProcess(config, self.root / f"{name}.log")
        return config

    def internet(self) -> InternetLink:
        link = InternetLink("127.0.0.1", self.console.port).start()
        self.links.append(link)
        return link

    def linked(self, names: list[str]) -> None:
        nodes = [self.nodes[n] for n in names]
        wait_for(
            lambda: all(
                len(s["peers"]) == len(nodes) - 1 and all(s["peers"].values())
                for s in (n.status() for n in nodes)
            ),
            30,
            f"{', '.join(names)} linked and in sync",
            on=[n.events for n in nodes],
        )


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    with business_bed(tmp_path) as made:
        yield made


@contextlib.contextmanager
def business_bed(tmp_path: Path, *, console_key: bool = False) -> Iterator[Bed]:
    """A venue, its console and the loopback network of the test's registers (added by the test);
    ``console_key``: the console signs what it says of itself (Security)."""
    authority = make_venue(tmp_path)
    if console_key:
        issue_console_key(authority)
    # the console closes its past days too (before the registers, mostly): a register still holding a
    # day open learns from the closed day's summary that the console has it all
    console = ConsoleProcess(
        tmp_path,
        [authority.directory],
        heartbeat_interval=HEARTBEAT_S,
        args=["--venue-idle-seconds", str(IDLE_S / 2)],
    )
    console.start()
    rng = random.Random()
    bed = Bed(
        tmp_path, authority, console, f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    )
    try:
        yield bed
    finally:
        for node in bed.nodes.values():
            node.kill()
        for link in bed.links:
            link.close()
        console.stop()


def days(node: NodeProcess) -> dict[str, Any]:
    answer: dict[str, Any] = node.call("GET", "/api/days")
    return answer


def closed_here(node: NodeProcess, dates: set[str]) -> bool:
    """``dates`` are closed on ``node`` and none of them is loaded."""
    shown = days(node)
    return dates <= set(shown["closed"]) and not dates & set(shown["loaded"])


def console_receipts(bed: Bed, date: str) -> set[str]:
    path = f"/api/venues/{bed.authority.venue_id}/receipts?date={date}"
    return {r["id"] for r in bed.console.call("GET", path)}


def test_past_days_close_on_every_node_and_stay_closed(bed: Bed) -> None:
    now_ms = int(time.time() * 1000)
    old = [past_day(3, now_ms), past_day(2, now_ms)]
    dates = {d.date for d in old}
    names = ["R1", "R2", "R3"]
    for i, name in enumerate(names, start=11):
        write_days(bed.register(name, i), old)  # every register held them (synced long ago)
    nodes = [bed.nodes[n] for n in names]
    for node in nodes:
        node.start()
        assert dates <= set(days(node)["loaded"])  # open in the store: loaded at start
    bed.linked(names)
    wait_for(
        lambda: all(closed_here(n, dates) for n in nodes),
        60,
        "the past days closed and unloaded on every register",
        on=[n.events for n in nodes],
    )
    for d in old:  # closed once the console held all of them, and it does
        assert set(d.receipts) <= console_receipts(bed, d.date)
    venue_path = f"/api/venues/{bed.authority.venue_id}/status"
    wait_for(  # the console closes its past days too, and the registers stay closed beside it
        lambda: (
            {f"ledger/{d}" for d in dates}
            <= set(bed.console.call("GET", venue_path)["closed_days"])
        ),
        30,
        "the past days closed at the console",
    )
    r1, r2 = bed.nodes["R1"], bed.nodes["R2"]
    assert r1.status()["receipts"] == 0  # nothing of them is counted in memory
    # three anti-entropy rounds later no peer has opened them again
    started = r1.status()["uptime_s"]

    def rounds_passed() -> bool:
        assert all(closed_here(n, dates) for n in nodes), "a closed day was opened again"
        return bool(r1.status()["uptime_s"] >= started + 3 * ANTI_ENTROPY_S)

    wait_for(  # time passing: no event announces it, so it is looked at a few times a second
        rounds_passed, 30, "three anti-entropy rounds", on=[n.events for n in nodes], every=0.25
    )
    assert r2.stop() == 0
    r2.start()
    assert closed_here(r2, dates)  # closed in its store: not loaded at start
    bed.linked(names)
    started = r2.status()["uptime_s"]

    def after_restart() -> bool:
        assert all(closed_here(n, dates) for n in nodes), "a restart opened a closed day again"
        return bool(r2.status()["uptime_s"] >= started + 2 * ANTI_ENTROPY_S)

    wait_for(
        after_restart, 30, "two anti-entropy rounds after R2's restart", on=[r2.events], every=0.25
    )
    # a reprint of an old receipt loads its day on demand, and the day closes again
    shown = r2.call("GET", f"/api/receipts/{old[0].receipts[0]}")
    assert shown["receipt"]["number"] == old[0].numbers[0]
    assert old[0].date in days(r2)["loaded"]
    wait_for(lambda: closed_here(r2, {old[0].date}), 30, "the reprinted day closed again")


def test_a_late_sale_for_an_ended_day_reaches_everyone_and_the_day_closes_again(
    bed: Bed,
) -> None:
    r3_internet = bed.internet()
    for i, name in enumerate(["R1", "R2"], start=11):
        bed.register(name, i)
    r3_config = bed.register("R3", 13, console_port=r3_internet.port)
    r1, r2, r3 = (bed.nodes[n] for n in ("R1", "R2", "R3"))
    for node in (r1, r2, r3):
        node.start()
    bed.linked(["R1", "R2", "R3"])
    today = days(r1)["today"]
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    sold = r1.sell(CASHIER, ["espresso"])
    r1.call("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
    wait_for(
        lambda: sold["id"] in r3.receipt_ids(), 30, "R1's sale on R3", on=[r3.events]
    )  # R3 also learned its receipt numbers from the mesh

    # R3 goes offline: no mesh (no discovery, a new port), no console
    assert r3.stop() == 0
    r3_internet.cut()
    offline = NodeProcess(r3_config, bed.root / "R3-offline.log", args=["--no-discovery"])
    bed.nodes["R3-offline"] = offline
    offline.start()

    ended = r1.call("POST", "/api/day/close", {"user": MANAGER})
    assert ended["date"] == today
    assert days(r1)["today"] == ended["next_date"]
    wait_for(lambda: days(r2)["today"] == ended["next_date"], 30, "R2 learned the day ended")

    offline.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    late = offline.sell(CASHIER, ["croissant"])  # R3 does not know: the sale goes to the ended day
    offline.call("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
    assert late["id"] in {r["id"] for r in offline.call("GET", f"/api/receipts?date={today}")}

    wait_for(
        lambda: all(closed_here(n, {today}) for n in (r1, r2)),
        60,
        "the ended day closed on R1 and R2",
        on=[r1.events, r2.events],
    )
    assert sold["id"] in console_receipts(bed, today)

    # R3 comes back with its late sale
    assert offline.stop() == 0
    del bed.nodes["R3-offline"]
    r3_internet.restore()
    r3.start()
    wait_for(
        lambda: late["id"] in console_receipts(bed, today),
        60,
        "R3's late sale in the console's reports",
    )
    for node in (r1, r2):
        wait_for(
            lambda: late["id"] in receipts_of(node, today),  # noqa: B023  (used before the loop moves on)
            60,
            f"R3's late sale on {node.config.stem}",
        )
    wait_for(
        lambda: all(closed_here(n, {today}) for n in (r1, r2, r3)),
        60,
        "the day closed again on every register",
        on=[r1.events, r2.events, r3.events],
    )
    assert days(r3)["today"] == ended["next_date"]


def receipts_of(node: NodeProcess, date: str) -> set[str]:
    """The receipts of ``date`` on ``node`` (a closed day is loaded for the read)."""
    return {r["id"] for r in node.call("GET", f"/api/receipts?date={date}&limit=1000")}


def test_a_refund_of_a_receipt_200_days_old_loads_its_day(tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    refunded, listed = past_day(200, now_ms), past_day(201, now_ms)
    # keep_days 0: a register that keeps every day (tests/mesh/test_keep_days.py: one that does not)
    config = make_device(make_venue(tmp_path), tmp_path, "R1", day_idle_seconds=IDLE_S, keep_days=0)
    write_days(config, [listed, refunded], closed=True)
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        shown = days(node)
        assert {refunded.date, listed.date} <= set(shown["closed"])
        assert not {refunded.date, listed.date} & set(shown["loaded"])
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        with pytest.raises(ApiError) as refused:  # a cashier may not refund: nothing is written
            node.call("POST", f"/api/receipts/{refunded.receipts[0]}/refunds", {"user": CASHIER})
        assert refused.value.status == 403
        refund = node.call(
            "POST", f"/api/receipts/{refunded.receipts[0]}/refunds", {"user": MANAGER}
        )
        assert refund["receipt_id"] == refunded.receipts[0]
        assert refunded.date in days(node)["loaded"]
        receipt = node.call("GET", f"/api/receipts/{refunded.receipts[0]}")
        assert [r["id"] for r in receipt["refunds"]] == [refund["id"]]
        assert receipts_of(node, listed.date) == set(listed.receipts)
        with pytest.raises(ApiError) as unknown:
            node.call("GET", "/api/receipts/no-such-receipt")
        assert unknown.value.status == 404
        assert node.stop() == 0
    finally:
        node.kill()


def test_a_receipt_number_and_a_kitchen_day_load_their_closed_day(tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    old = past_day(150, now_ms)
    config = make_device(make_venue(tmp_path), tmp_path, "R1", day_idle_seconds=IDLE_S, keep_days=0)
    write_days(config, [old], closed=True, kitchen=True)
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        assert old.date in days(node)["closed"]
        # the kitchen board of a closed day: its tickets load for the read
        board = node.call("GET", f"/api/kitchen/tickets?date={old.date}")
        assert len(board["tickets"]) == len(old.receipts)
        assert old.date not in days(node)["loaded"]  # (only the kitchen was asked for)
        # a receipt by the number printed on it: its closed day is found by the number and loaded
        shown = node.call("GET", f"/api/receipts/{old.numbers[1]}")
        assert shown["receipt"]["id"] == old.receipts[1]
        assert old.date in days(node)["loaded"]
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        refund = node.call("POST", f"/api/receipts/{old.numbers[0]}/refunds", {"user": MANAGER})
        assert refund["receipt_id"] == old.receipts[0]
        with pytest.raises(ApiError) as unknown:
            node.call("GET", "/api/receipts/R9-999999")
        assert unknown.value.status == 404
        assert node.stop() == 0
    finally:
        node.kill()
