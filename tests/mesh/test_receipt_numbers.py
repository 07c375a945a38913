"""A register re-enrolled on a fresh database never reuses a receipt number (issue 13, defect 4).

Real ``meshpos node`` processes on loopback: R2 sells with R1 running, R2's data dir is wiped and R2 is
enrolled again (``pair --reissue``). Alone it refuses to sell with ``receipt_numbers_unknown``; linked to R1
it learns how far it got and continues; the operator's override starts a tagged series instead.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.config import load_config
from meshpos.harness.venue import enroll_directly
from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model.numbering import (
    MARKS_UNSENT_AT_MOST,
    NUMBERS_DOCUMENT,
    NUMBERS_MAP,
    SERIES_ALPHABET,
    SERIES_LENGTH,
)
from meshpos.model.sample import CASHIER
from meshpos.store import SqliteStore
from meshpos.trust import VenueAuthority

from .kit import CATALOG, ConsoleProcess, NodeProcess, make_device, make_venue
from .test_cli_node import meshpos


class Bed:
    def __init__(self, root: Path, *, console: bool = False, **more: Any) -> None:
        self.root = root
        self.authority: VenueAuthority = make_venue(root)
        self.console: ConsoleProcess | None = None
        settings: dict[str, Any] = {"heartbeat_interval": 0.3, **more}
        if console:
            self.console = ConsoleProcess(root, [self.authority.directory]).start()
            settings["console_url"] = f"ws://127.0.0.1:{self.console.port}"
            settings["console_token"] = self.authority.console_token
        self.prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
        self.configs = {
            name: make_device(self.authority, root, name, host=f"{self.prefix}.{i}", **settings)
            for i, name in enumerate(("R1", "R2"), start=11)
        }
        self.procs: list[NodeProcess] = []

    def start(self, name: str, *args: str) -> NodeProcess:
        proc = NodeProcess(self.configs[name], self.root / f"{name}.log", ["--no-discovery", *args])
        self.procs.append(proc)
        return proc.start()

    def linked_pair(self) -> tuple[NodeProcess, NodeProcess]:
        """R1, and R2 told of it, once each says the other is linked."""
        r1 = self.start("R1")
        r2 = self.start("R2", self.peer(r1))
        wait_for(
            lambda: linked(r1, "R2") and linked(r2, "R1"),
            20,
            "R1 and R2 linked",
            on=[r1.events, r2.events],
        )
        return r1, r2

    def node_db(self, name: str) -> Path:
        return load_config(self.configs[name], env={}).data_dir / "node.db"

    def peer(self, node: NodeProcess) -> str:
        return f"--peer={node.ready['node']}@{self.prefix}.11:{node.port}"

    def wipe_and_reenroll(self, name: str) -> None:
        """The device's data dir is lost; the operator enrolls it again under its id. The catalog is
        put back (as if pulled earlier) so what the register refuses is the sale, not the cashier."""
        data = load_config(self.configs[name], env={}).data_dir
        shutil.rmtree(data)
        enroll_directly(self.authority, name, "register", data / "identity", reissue=True)

        async def seed() -> None:
            async with await SqliteStore.open(data / "node.db") as store:
                await store.append([("catalog", CATALOG)])

        asyncio.run(seed())

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()
        if self.console is not None:
            self.console.stop()


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    bed = Bed(tmp_path)
    yield bed
    bed.kill_all()


def refusal(node: NodeProcess, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The error body of a request the node must refuse."""
    try:
        answer = node.call(method, path, body)
    except ApiError as exc:
        error: dict[str, Any] = json.loads(exc.body)["error"]
        error["status"] = exc.status
        return error
    raise AssertionError(f"{method} {path} was accepted: {answer}")


def after_learning(last: int) -> str:
    """R2's number after learning ``last``: that many above, for marks that may not have left."""
    return f"R2-{last + MARKS_UNSENT_AT_MOST + 1:06d}"


def linked(node: NodeProcess, other: str) -> bool:
    return node.status()["peers"].get(other) is True


def sold_on_r2_held_by_r1(r1: NodeProcess, r2: NodeProcess, n: int) -> list[dict[str, Any]]:
    """R2 opens a shift and sells ``n``: its receipts, once R1 holds every one of them."""
    r2.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
    sold = [r2.sell(CASHIER, ["espresso"]) for _ in range(n)]
    wait_for(
        lambda: {r["id"] for r in sold} <= r1.receipt_ids(),
        10,
        "R2's receipts on R1",
        on=[r1.events],
    )
    return sold


def first_sales_of_r2(bed: Bed) -> tuple[NodeProcess, list[dict[str, Any]]]:
    r1, r2 = bed.linked_pair()
    sold = sold_on_r2_held_by_r1(r1, r2, 3)
    assert r2.stop() == 0
    return r1, sold


def test_a_reenrolled_register_alone_refuses_to_sell_then_learns_its_numbers_from_a_peer(
    bed: Bed,
) -> None:
    r1, sold = first_sales_of_r2(bed)
    assert [r["number"] for r in sold] == ["R2-000001", "R2-000002", "R2-000003"]
    bed.wipe_and_reenroll("R2")

    alone = bed.start("R2")
    assert alone.status()["receipt_numbers_known"] is False
    told = meshpos("status", "--config", str(bed.configs["R2"]))
    assert "receipt numbers: unknown" in told.stdout, told
    for path, body in (
        ("/api/orders", {"user": CASHIER}),
        ("/api/shifts", {"user": CASHIER, "opening_cash": 5_000}),
    ):
        error = refusal(alone, "POST", path, body)
        print(f"\nalone, POST {path}: {error['status']} {error['code']}: {error['message']}")
        assert (error["status"], error["code"]) == (409, "receipt_numbers_unknown")
        assert "--new-receipt-series" in error["message"]
    assert alone.receipt_ids() == set()  # nothing was written
    assert alone.stop() == 0

    again = bed.start("R2", bed.peer(r1))
    wait_for(
        lambda: linked(again, "R1"), 20, "the re-enrolled R2 in sync with R1", on=[again.events]
    )
    assert again.status()["receipt_numbers_known"] is True
    # its shift is in the day's ledger, which comes a round trip after the numbers: wait for it
    wait_for(
        lambda: again.status()["receipts"] == len(sold),
        10,
        "the day's ledger from R1",
        on=[again.events],
    )
    receipt = again.sell(CASHIER, ["espresso"])  # on its shift, learned from R1 too
    # above what it learned by the marks that may not have left (model/numbering.py): a gap
    assert receipt["number"] == after_learning(3)
    assert receipt["number"] not in {r["number"] for r in sold}

    # what it learned is its own now: a restart alone (no peer) sells on
    assert again.stop() == 0
    restarted = bed.start("R2")
    assert restarted.sell(CASHIER, ["espresso"])["number"] == after_learning(4)


def test_the_operators_new_series_sells_alone_with_numbers_no_earlier_receipt_can_have(
    bed: Bed,
) -> None:
    r1, sold = first_sales_of_r2(bed)
    assert r1.stop() == 0  # R2 will be alone
    bed.wipe_and_reenroll("R2")

    r2 = bed.start("R2", "--new-receipt-series")
    r2.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
    first = r2.sell(CASHIER, ["espresso"])
    tag = f"[{SERIES_ALPHABET}]{{{SERIES_LENGTH}}}"
    match = re.fullmatch(rf"R2-({tag})-000001", first["number"])
    assert match is not None, first["number"]
    assert first["number"] not in {r["number"] for r in sold}

    # the series is kept across a restart without the flag
    assert r2.stop() == 0
    r2 = bed.start("R2")
    assert r2.sell(CASHIER, ["espresso"])["number"] == f"R2-{match.group(1)}-000002"


def test_a_reenrolled_register_learns_its_numbers_from_the_console(tmp_path: Path) -> None:
    bed = Bed(tmp_path, console=True)
    console = bed.console
    assert console is not None
    try:
        r2 = bed.start("R2")  # alone but for the console: it is the relay
        wait_for(
            lambda: r2.status()["colour"] == "green",
            20,
            "R2 relaying to the console",
            on=[r2.events],
        )
        r2.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
        sold = [r2.sell(CASHIER, ["espresso"]) for _ in range(3)]
        path = f"/api/venues/{bed.authority.venue_id}/receipts"
        wait_for(lambda: len(console.call("GET", path)) == 3, 20, "R2's receipts at the console")
        assert r2.stop() == 0
        bed.wipe_and_reenroll("R2")

        again = bed.start("R2")
        wait_for(
            lambda: again.status()["colour"] == "green",
            20,
            "the new R2 in sync with the console",
            on=[again.events],
        )
        assert again.status()["receipt_numbers_known"] is True
        # what it learned is committed at once, before any sale: the internet may go next
        assert again.stop() == 0
        console.stop()
        again = bed.start("R2")
        assert again.status()["receipt_numbers_known"] is True
        # the console gives back no ledger day (registers author those), so no open shift either
        again.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
        receipt = again.sell(CASHIER, ["espresso"])
        assert receipt["number"] == after_learning(3)
        assert receipt["number"] not in {r["number"] for r in sold}
    finally:
        bed.kill_all()


def test_a_new_receipt_series_for_a_kitchen_screen_is_refused_in_one_line(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "K1", role="kds")
    done = meshpos("node", "--config", str(config), "--no-discovery", "--new-receipt-series")
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert "--new-receipt-series: node K1 is a kds" in done.stderr


def mark_in(stoplist: bytes | None, series: str) -> int:
    """The mark of ``series`` in a stoplist document's stored update (none: 0)."""
    doc: Doc[Any] = Doc()
    if stoplist is not None:
        doc.apply_update(stoplist)
    return int(doc.get(NUMBERS_MAP, type=Map).get(series, 0))


def held_mark(node_db: Path, series: str) -> int:
    """The mark of ``series`` in a stopped node's store (its stoplist document as committed)."""

    async def read() -> bytes | None:
        async with await SqliteStore.open(node_db) as store:
            return await store.load(NUMBERS_DOCUMENT)

    return mark_in(asyncio.run(read()), series)


def test_a_register_reborn_while_its_marks_had_not_left_reuses_no_number(tmp_path: Path) -> None:
    """Issue 18, marks: a mark leaves up to ``mark_wait_ms`` after its receipt (here 10 s, so the
    window is certain). R2 sells five, R1 holds the five receipts but only the first mark; R2 is
    killed and its data dir lost. Re-enrolled and linked to R1 it learns 1 from the mark (the day's
    ledger comes a round trip later) and must still number above 5."""
    bed = Bed(tmp_path, mark_wait_ms=10_000)
    try:
        r1, r2 = bed.linked_pair()
        sold = sold_on_r2_held_by_r1(r1, r2, 5)
        r2.kill()  # its marks 2..5 never left
        assert r1.stop() == 0
        assert held_mark(bed.node_db("R1"), "R2") == 1  # the window this test is about
        bed.wipe_and_reenroll("R2")

        r1 = bed.start("R1")
        again = bed.start("R2", bed.peer(r1))
        wait_for(lambda: linked(again, "R1"), 20, "the reborn R2 linked", on=[again.events])
        assert again.status()["receipt_numbers_known"] is True
        wait_for(lambda: again.status()["receipts"] == 5, 10, "the day", on=[again.events])
        receipt = again.sell(CASHIER, ["espresso"])
        assert receipt["number"] not in {r["number"] for r in sold}
        # above what it learned: the first mark alone (the day's ledger came after the learning)
        # or the five receipts (it came before)
        assert receipt["number"] in {after_learning(1), after_learning(5)}
    finally:
        bed.kill_all()
