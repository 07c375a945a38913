"""The indicator cannot lie (issue 13, defects 2 and 3), with real processes: a console, registers on
loopback with real mDNS, the console link through an :class:`InternetLink` where a test cuts it.

* Green means data flows: a register whose venue token the console refuses never holds the relay role; while
  nobody else reaches the console every register is yellow with the reason in the venue's words, and the
  register with a good token takes over as soon as it can.
* "All data is synced" means in the console's reports: while the console holds a record it cannot
  materialise, no register says so, every register shows the reason, and so does the console's status.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.config import load_config
from meshpos.harness.internet import InternetLink
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.store import SqliteStore
from meshpos.trust import VenueAuthority

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

SYNCED = "All data is synced"


@dataclass
class Bed:
    root: Path
    authority: VenueAuthority
    console: ConsoleProcess
    nodes: dict[str, NodeProcess]
    links: list[InternetLink]
    prefix: str

    def register(self, name: str, index: int, **settings: Any) -> NodeProcess:
        config = make_device(
            self.authority,
            self.root,
            name,
            host=f"{self.prefix}.{index}",
            heartbeat_interval=0.5,
            **settings,
        )
        self.nodes[name] = NodeProcess(config, self.root / f"{name}.log")
        return self.nodes[name]

    def internet(self) -> InternetLink:
        link = InternetLink("127.0.0.1", self.console.port).start()
        self.links.append(link)
        return link

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {name: node.status() for name, node in self.nodes.items()}


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    rng = random.Random()
    prefix = f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"
    bed = Bed(tmp_path, authority, console, {}, [], prefix)
    try:
        yield bed
    finally:
        for node in bed.nodes.values():
            node.kill()
        for link in bed.links:
            link.close()
        console.stop()


def mistyped(token: str) -> str:
    """The venue token with one character changed, as an operator might type it."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_a_register_with_a_wrong_token_never_shows_green_and_a_good_one_takes_over(
    bed: Bed,
) -> None:
    good = bed.internet()
    good.cut()  # R2 (good token) has no internet yet: only R1 could upload
    r1 = bed.register(
        "R1",
        11,
        priority=10,  # the preferred relay
        console_url=f"ws://127.0.0.1:{bed.console.port}",
        console_token=mistyped(bed.authority.console_token),
    )
    r2 = bed.register(
        "R2",
        12,
        priority=50,
        console_url=f"ws://127.0.0.1:{good.port}",
        console_token=bed.authority.console_token,
    )
    r1.start()
    r2.start()
    wait_for(
        lambda: all(len(s["peers"]) == 1 for s in bed.statuses().values()),
        30,
        "mesh",
        on=[n.events for n in bed.nodes.values()],
    )
    reason = "the console refused R1: wrong venue token"

    def yellow_with_reason() -> bool:
        return all(
            s["colour"] == "yellow"
            and reason[1:] in s["message"]  # the message may begin with it: "The console…"
            and s["label"] != "Synced"
            for s in bed.statuses().values()
        )

    took = wait_for(
        yellow_with_reason,
        15,
        "both registers yellow, naming R1's refusal",
        on=[n.events for n in bed.nodes.values()],
    )
    print(f"\nwrong token: both registers yellow with the reason after {took:.2f} s")
    statuses = bed.statuses()
    print(statuses["R2"]["message"])
    assert statuses["R1"]["problems"] == {"R1": reason}
    # R1 compared its clock with the console's answer (a refusal has a Date too): on time, no warning;
    # R2 reaches no console and compared nothing
    assert statuses["R1"]["clock"] == ""
    assert abs(statuses["R1"]["clock_skew_s"]) < 10
    assert (statuses["R2"]["clock"], statuses["R2"]["clock_skew_s"]) == ("", None)
    assert not any(s["is_relay"] for s in statuses.values())
    assert statuses["R1"]["relay"] is None  # nobody holds the role on a refused token

    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    receipt = r1.sell(CASHIER, ["burger"])
    assert "not at the console yet" in r1.status()["message"]
    good.restore()

    def green_and_synced() -> bool:
        return all(
            s["colour"] == "green" and s["message"] == SYNCED for s in bed.statuses().values()
        )

    took = wait_for(
        green_and_synced,
        30,
        "R2 takes over and both say All data is synced",
        on=[n.events for n in bed.nodes.values()],
    )
    print(f"R2's internet back: both green and synced after {took:.2f} s")
    statuses = bed.statuses()
    assert statuses["R2"]["is_relay"]
    assert not statuses["R1"]["is_relay"]
    assert statuses["R1"]["problems"] == {"R1": reason}  # still told, though data flows via R2
    at_console = bed.console.call("GET", f"/api/venues/{bed.authority.venue_id}/receipts")
    assert [r["id"] for r in at_console] == [receipt["id"]]


def a_corrupt_order(date: str, order_id: str) -> bytes:
    """A ledger day holding an order that is not a map: what a register of an older version, or a
    half-written record, could leave behind; the console's materialiser refuses the day."""
    doc: Doc[Any] = Doc(client_id=random.randrange(1, 2**31))
    doc.get("orders", type=Map)[order_id] = "not an order"
    return doc.get_update()


async def seed(db: Path, name: str, update: bytes) -> None:
    async with await SqliteStore.open(db) as store:
        await store.append([(name, update)])


def test_no_register_says_synced_while_the_console_cannot_report_a_record(bed: Bed) -> None:
    url = f"ws://127.0.0.1:{bed.console.port}"
    token = bed.authority.console_token
    r1 = bed.register("R1", 11, console_url=url, console_token=token)
    bed.register("R2", 12)  # no internet of its own: it learns it all from the relay
    day, order_id = "2026-12-01", "o-corrupt"
    asyncio.run(
        seed(
            load_config(r1.config, env={}).db_path, f"ledger/{day}", a_corrupt_order(day, order_id)
        )
    )
    for node in bed.nodes.values():
        node.start()
    wait_for(
        lambda: all(len(s["peers"]) == 1 for s in bed.statuses().values()),
        30,
        "mesh",
        on=[n.events for n in bed.nodes.values()],
    )

    def told_everywhere() -> bool:
        return all(
            s["colour"] == "green"
            and s["pending"] == 0
            and s["not_in_reports"] > 0
            and order_id in s["not_in_reports_reason"]
            and "not in the console's reports" in s["message"]
            for s in bed.statuses().values()
        )

    took = wait_for(
        told_everywhere,
        30,
        "both registers name the record the console cannot report",
        on=[n.events for n in bed.nodes.values()],
    )
    statuses = bed.statuses()
    print(
        f"\nall at the console, not all in its reports: told on both registers after {took:.2f} s"
    )
    print(statuses["R2"]["message"])
    assert not any(s["label"] == "Synced" or s["message"] == SYNCED for s in statuses.values())
    assert {s["label"] for s in statuses.values()} == {"Not in reports"}
    status = bed.console.call("GET", f"/api/venues/{bed.authority.venue_id}/status")
    shown = status["not_materialised"]
    print(f"console status: {shown}")
    assert shown["count"] > 0
    assert order_id in shown["reason"]
    assert f"ledger/{day}" in shown["days"]
