"""A rolling upgrade with real processes (issue 19; docs/architecture.md (Wire), compatibility rules): the
previous release (N−1, compat/previous_release, built from git history by previous.py) and this one in
one venue, one device at a time, the console on its own schedule.

Registers R1 and R2 start on N−1 with the console and the kitchen screen K1 (N−1 throughout), R3 on
N. Then R1 is upgraded in place (its N−1 database opens in N), the console too (its N−1 database opens
in N), and the relay role moves between old and new registers, so each pairing runs: an old relay to an
old console, a new relay to an old console, a new relay to a new console, an old relay to a new
console, with old and new registers in one mesh throughout.

In each step every running register sells; two orders go across releases (one opened on N, a line
added and sent to the kitchen on N−1, paid on N; one the other way round); and a bill N edits the new
ways (a line's quantity, a split by items) must read and price alike on N−1, which pays the split-off
bill; each N register records a "no sale" drawer opening, a record N−1 does not know (every N register
must list them all). The step holds once K1 lists every ticket and every register reads that K1 holds it, every
register holds every receipt, the console holds all of them at the registers' totals (0 lost, 0
duplicated: every id and number once), and every register is green with "All data is synced", with no
record of the other release skipped as corrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config, write_config_file
from meshpos.harness.venue import enroll_directly, loopback_prefix, seed_store
from meshpos.harness.wait import TimedOut, wait_for
from meshpos.localapi import ApiError
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.store import SqliteStore
from meshpos.store.schema import SCHEMA_VERSION
from meshpos.trust import VenueAuthority

from ..mesh.kit import CATALOG, ConsoleProcess, NodeProcess, make_venue
from .previous import Release

pytestmark = pytest.mark.slow

SYNCED = "All data is synced"
STEP = 90.0  # seconds for a step to settle: generous on a machine shared with other test runs

#: run by the previous release: its own store, seeded with this test's catalog (and no receipt yet,
#: as meshpos.harness.venue.seed_store says), so an old node's database is the old release's own
SEED = """
import asyncio, sys
from pathlib import Path
from meshpos.config import load_config
from meshpos.harness.venue import seed_store
asyncio.run(seed_store(load_config(Path(sys.argv[1]), env={}), Path(sys.argv[2]).read_bytes()))
"""


def free_port(host: str) -> int:
    """A port for the console that stays the same across its upgrade (the registers' console_url)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class Venue:
    root: Path
    release: Release
    authority: VenueAuthority
    prefix: str
    console_port: int
    console: ConsoleProcess | None = None
    nodes: dict[str, NodeProcess] = field(default_factory=dict)  # the registers
    kitchen: dict[str, NodeProcess] = field(default_factory=dict)  # the kitchen screens
    tickets: set[str] = field(default_factory=set)  # sent to the kitchen
    no_sales: set[str] = field(default_factory=set)  # drawer openings recorded on N registers
    old: set[str] = field(default_factory=set)  # which run the previous release
    sold: dict[str, dict[str, Any]] = field(default_factory=dict)  # receipt id -> receipt

    def device(
        self, name: str, index: int, priority: int, *, old: bool, role: str = "register"
    ) -> Path:
        """Enroll ``name`` and write its node.toml; its store is seeded by the release it runs."""
        data = self.root / name
        enroll_directly(self.authority, name, role, data / "identity")
        config = self.root / f"{name}.toml"
        values: dict[str, Any] = {
            "node_id": name,
            "role": role,
            "data_dir": str(data),
            "listen_host": f"{self.prefix}.{index}",
            "api_host": f"{self.prefix}.{index}",
            "heartbeat_interval": 0.5,
            "priority": priority,
            "log_level": "INFO",
        }
        if role == "register":
            values["console_url"] = f"ws://127.0.0.1:{self.console_port}"
            values["console_token"] = self.authority.console_token
        write_config_file(config, values)
        catalog = self.root / "catalog.update"
        catalog.write_bytes(CATALOG)
        if old:
            self.release.run(SEED, str(config), str(catalog))
        else:
            asyncio.run(seed_store(load_config(config, env={}), CATALOG))
        return config

    def start_node(self, name: str, *, old: bool, kitchen: bool = False) -> NodeProcess:
        node = NodeProcess(
            self.root / f"{name}.toml",
            self.root / f"{name}.log",
            python=self.release.python if old else [],
        ).start()
        (self.kitchen if kitchen else self.nodes)[name] = node
        (self.old.add if old else self.old.discard)(name)
        if old:
            self.check_runs_previous(node.proc)
        return node

    def start_console(self, *, old: bool) -> ConsoleProcess:
        self.console = ConsoleProcess(
            self.root,
            [self.authority.directory],
            args=["--port", str(self.console_port)],
            python=self.release.python if old else [],
        ).start()
        if old:
            self.check_runs_previous(self.console.proc)
        return self.console

    def check_runs_previous(self, process: asyncio.subprocess.Process | None) -> None:
        self.release.check_runs(process)

    def stop(self, name: str) -> None:
        self.nodes.pop(name).stop()

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {name: node.status() for name, node in self.nodes.items()}

    def events(self) -> list[Any]:
        return [node.events for node in (self.nodes | self.kitchen).values()]

    def linked(self) -> bool:
        """Every device (registers and kitchen screens) linked to every other."""
        devices = self.nodes | self.kitchen
        return all(len(n.status()["peers"]) == len(devices) - 1 for n in devices.values())

    def kitchen_holds_every_ticket(self) -> bool:
        """Every screen lists every ticket, and every register reads that each screen holds it: the
        tickets one release wrote, the acknowledgements the other."""
        screens = sorted(self.kitchen)
        for node in (self.nodes | self.kitchen).values():
            board = {t["id"]: t for t in node.call("GET", "/api/kitchen/tickets")["tickets"]}
            if not self.tickets <= board.keys():
                return False
            if node in self.nodes.values() and any(
                sorted(board[t]["held_by"]) != screens for t in self.tickets
            ):
                return False
        return True

    def sell_everywhere(self) -> None:
        for name, node in self.nodes.items():
            receipt = node.sell(CASHIER, ["burger"])
            assert receipt["id"] not in self.sold, f"{name} reissued {receipt['id']}"
            self.sold[receipt["id"]] = receipt

    def shared_sale(self, opener: str, adder: str, payer: str) -> None:
        """One order on three registers: opened with a line on ``opener``, a line added on
        ``adder`` once the order reached it, paid in full on ``payer`` once both lines did: a record
        one release wrote is read and written into by the other."""
        a, b, c = self.nodes[opener], self.nodes[adder], self.nodes[payer]
        order = a.call("POST", "/api/orders", {"user": CASHIER})
        path = f"/api/orders/{order['id']}"
        a.call("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})

        def lines_at(node: NodeProcess, count: int) -> bool:
            return any(
                o["id"] == order["id"] and len(o["lines"]) == count
                for o in node.call("GET", "/api/orders")
            )

        self.wait(lambda: lines_at(b, 1), f"{opener}'s order on {adder}")
        b.call("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})
        sent = b.call("POST", f"{path}/kitchen", {"user": CASHIER})
        self.tickets.add(sent["ticket"]["id"])
        self.wait(lambda: lines_at(c, 2), f"{opener}'s order with {adder}'s line on {payer}")
        paid = c.call("POST", f"{path}/payments", {"user": CASHIER, "method": "card"})
        self.sold[paid["receipt"]["id"]] = paid["receipt"]

    def split_bill(self, new: str, old: str) -> None:
        """A bill N edits the new ways (a line's quantity, a split by items) and N−1 reads, prices
        and pays alike: the records N writes for them must be ones N−1 reads (compatibility rules)."""
        n, o = self.nodes[new], self.nodes[old]
        order = n.call("POST", "/api/orders", {"user": CASHIER})
        path = f"/api/orders/{order['id']}"
        n.call("POST", f"{path}/lines", {"user": CASHIER, "product_id": "fries"})
        order = n.call("POST", f"{path}/lines", {"user": CASHIER, "product_id": "burger"})
        burger = order["lines"][-1]["id"]
        order = n.call("PUT", f"{path}/lines/{burger}/quantity", {"user": CASHIER, "quantity": 3})
        burger = next(ln["id"] for ln in order["lines"] if ln["product_id"] == "burger")
        bill = n.call("POST", f"{path}/split", {"user": CASHIER, "lines": {burger: 2}})

        def seen(node: NodeProcess, order_id: str) -> tuple[Any, ...]:
            got = node.call("GET", f"/api/orders/{order_id}")
            lines = sorted((ln["product_id"], ln["quantity"]) for ln in got["lines"])
            return got["totals"]["total"], tuple(lines)

        def alike() -> bool:
            try:
                return all(seen(o, i) == seen(n, i) for i in (order["id"], bill["id"]))
            except ApiError:  # not there yet
                return False

        self.wait(alike, f"{new}'s split bill read alike on {old}")
        assert seen(o, bill["id"])[1] == (("burger", 2),)
        for node, order_id in ((o, bill["id"]), (n, order["id"])):
            paid = node.call(
                "POST", f"/api/orders/{order_id}/payments", {"user": CASHIER, "method": "card"}
            )
            self.sold[paid["receipt"]["id"]] = paid["receipt"]

    def no_sales_on_new(self) -> None:
        """Each N register opens its drawer for no sale (issue 17): a ledger record N−1 does not know,
        which N−1's registers and console must pass over without calling anything corrupt."""
        for name in sorted(self.nodes.keys() - self.old):
            made = self.nodes[name].call(
                "POST", "/api/shifts/current/no-sales", {"user": MANAGER, "reason": "change"}
            )
            self.no_sales.add(made["id"])

    def relay(self) -> str | None:
        """The relay every register names, if they agree on one."""
        named = {s["relay"] for s in self.statuses().values()}
        return named.pop() if len(named) == 1 else None

    def move_role(self, *, old: bool) -> None:
        """Make a register of N−1 (``old``) or N the relay: stop the relay of the other kind (the
        next by priority takes over) and start it again as it was (the role stays where it went)."""
        for _ in range(len(self.nodes)):
            self.wait(lambda: self.relay() is not None, "one relay")
            relay = self.relay()
            assert relay is not None
            if (relay in self.old) == old:
                return
            was_old = relay in self.old
            self.stop(relay)
            self.wait(
                lambda gone=relay: self.relay() not in (None, gone),  # type: ignore[misc]
                f"another relay than {relay}",
            )
            self.start_node(relay, old=was_old)
        raise AssertionError(f"no {'N-1' if old else 'N'} register took the role: {self.picture()}")

    def settled(self, old_relay: bool | None) -> bool:
        """Every receipt on every register and once at the console; all green and synced; the
        relay, agreed by all, of the release asked for (None: either)."""
        statuses = self.statuses()
        relay = self.relay()
        if relay is None or (old_relay is not None and (relay in self.old) != old_relay):
            return False
        if any(s["colour"] != "green" or s["message"] != SYNCED for s in statuses.values()):
            return False
        corrupt = {n: s["corrupt_records"] for n, s in statuses.items() if s["corrupt_records"]}
        assert not corrupt, f"registers skip records the other release wrote: {corrupt}"
        if any(node.receipt_ids() != set(self.sold) for node in self.nodes.values()):
            return False
        if not self.kitchen_holds_every_ticket():
            return False
        for name in self.nodes.keys() - self.old:
            listed = {n["id"] for n in self.nodes[name].call("GET", "/api/no-sales")}
            if listed != self.no_sales:
                return False
        assert self.console is not None
        at_console = self.console.call("GET", f"/api/venues/{self.authority.venue_id}/receipts")
        ids = [r["id"] for r in at_console]
        assert set(ids) <= set(self.sold), f"unknown receipts: {set(ids) - set(self.sold)}"
        totals = {r["id"]: r["total"] for r in at_console}
        priced = {i: t for i, t in totals.items() if t != self.sold[i]["total"]}
        assert not priced, f"the console prices receipts otherwise than their registers: {priced}"
        numbers = [r["number"] for r in at_console]
        assert len(ids) == len(set(ids)), f"duplicated at the console: {sorted(ids)}"
        assert len(numbers) == len(set(numbers)), f"a number twice: {sorted(numbers)}"
        return set(ids) == set(self.sold)

    def picture(self) -> str:
        """What each register says and holds, for a failure's message."""
        lines = []
        for name, node in self.nodes.items():
            try:
                s = node.status()
                held = len(node.receipt_ids() & set(self.sold))
            except Exception as exc:  # a failure's message: say it rather than hide the first
                lines.append(f"{name}: no answer ({exc})")
                continue
            lines.append(
                f"{name} ({'N-1' if name in self.old else 'N'}): {s['colour']} relay={s['relay']} "
                f"peers={s['peers']} pending={s['pending']} {s['message']!r}; "
                f"{held} of {len(self.sold)} receipts"
            )
        return "\n".join(lines)

    def wait(self, check: Callable[[], bool], what: str) -> float:
        """:func:`wait_for` on the registers' changes; a failure says what each register shows."""
        try:
            return wait_for(check, STEP, what, on=self.events())
        except TimedOut:
            raise AssertionError(f"timed out waiting for {what}:\n{self.picture()}") from None

    def step(self, what: str, *, old_relay: bool | None) -> str:
        """Sell on every register, then wait until the sales are everywhere (see :meth:`settled`)."""
        self.wait(self.linked, f"{what}: every device linked to every other")
        self.sell_everywhere()
        old = sorted(self.old & self.nodes.keys())
        new = sorted(self.nodes.keys() - self.old)
        self.shared_sale(new[0], old[0], new[-1])
        self.shared_sale(old[0], new[0], old[-1])
        self.split_bill(new[0], old[0])
        self.no_sales_on_new()
        took = self.wait(lambda: self.settled(old_relay), f"{what}: settled")
        kinds = {n: "N-1" if n in self.old else "N" for n in sorted(self.nodes | self.kitchen)}
        relay = self.relay()
        assert relay is not None
        print(f"\n{what}: settled in {took:.1f} s ({kinds}, relay {relay})")
        return relay


@pytest.fixture
def venue(tmp_path: Path, previous_release: Release) -> Iterator[Venue]:
    authority = make_venue(tmp_path)
    prefix = loopback_prefix(random.Random())
    bed = Venue(tmp_path, previous_release, authority, prefix, free_port("127.0.0.1"))
    try:
        yield bed
    finally:
        for node in (bed.nodes | bed.kitchen).values():
            node.kill()
        if bed.console is not None:
            bed.console.stop()


def opened_here(config: Path) -> tuple[int, list[str]]:
    """Open a register's database with this release's store (which migrates an older one at open):
    its schema version then and the documents it holds."""
    path = load_config(config, env={}).db_path

    async def open_it() -> list[str]:
        async with await SqliteStore.open(path) as store:
            return sorted(d.name for d in await store.documents(include_closed=True))

    names = asyncio.run(open_it())
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0]), names


def test_a_rolling_upgrade_loses_and_duplicates_nothing_in_any_pairing(venue: Venue) -> None:
    for name, index, priority, old in (
        ("R1", 11, 10, True),
        ("R2", 12, 20, True),
        ("R3", 13, 30, False),
    ):
        venue.device(name, index, priority, old=old)
    venue.device("K1", 14, 100, old=True, role="kds")  # an old kitchen screen throughout
    venue.start_console(old=True)
    venue.start_node("K1", old=True, kitchen=True)
    for name in ("R1", "R2"):
        venue.start_node(name, old=True)
    venue.start_node("R3", old=False)
    for node in venue.nodes.values():
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    venue.move_role(old=True)
    venue.step("an N-1 relay to the N-1 console", old_relay=True)

    # R1 is upgraded in place (its N−1 database opens in N)
    venue.stop("R1")
    version, documents = opened_here(venue.root / "R1.toml")
    assert version == SCHEMA_VERSION
    assert any(name.startswith("ledger/") for name in documents), documents
    venue.start_node("R1", old=False)
    venue.step("R1 upgraded to N", old_relay=None)

    venue.move_role(old=False)
    venue.step("an N relay to the N-1 console", old_relay=False)

    assert venue.console is not None
    venue.console.stop()
    venue.start_console(old=False)  # the console upgraded on its own schedule, same database
    relay = venue.step("the console upgraded to N", old_relay=None)

    old_relay = relay not in venue.old
    venue.move_role(old=old_relay)
    venue.step(f"an {'N-1' if old_relay else 'N'} relay to the N console", old_relay=old_relay)
