"""Receipt-number marks that wait (issue 18, marks), attacked with real processes (outside round,
eighteenth session).

A mark now leaves up to ``mark_wait_ms`` after its receipt (model/numbering.py). Here it is 10 s (the
setting's bound), so every check below runs while marks certainly wait:

* the register's indicator never says "All data is synced" while a mark is not at the console;
* a graceful stop sends the waiting marks before its goodbye (the peer's store holds them);
* a backup restored onto a lost disk learns its numbers and numbers above every receipt issued;
* a kill -9 while marks wait loses nothing: the restarted register sends them in its first sync
  (they were committed with their receipts) and numbers on without a repeat.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from meshpos.config import load_config
from meshpos.console.db import open_console_db
from meshpos.harness.wait import wait_for
from meshpos.model.numbering import NUMBERS_DOCUMENT
from meshpos.model.sample import CASHIER
from meshpos.node_status import ALL_SYNCED

from ..mesh.kit import NodeProcess
from ..mesh.test_cli_node import meshpos
from ..mesh.test_receipt_numbers import Bed, held_mark, linked, mark_in, sold_on_r2_held_by_r1

WAIT_MS = 10_000  # mark_wait_ms at its upper bound: the marks' window is certain


def console_mark(db: Path, venue_id: str, series: str) -> int:
    """The mark of ``series`` in a stopped console's database (its stoplist document)."""

    async def read() -> bytes | None:
        console_db = await open_console_db(f"sqlite:///{db}")
        try:
            return await console_db.load_document(venue_id, NUMBERS_DOCUMENT)
        finally:
            await console_db.close()

    return mark_in(asyncio.run(read()), series)


def test_the_indicator_never_says_synced_while_a_mark_waits(tmp_path: Path) -> None:
    """R1 and R2 linked, one of them the relay (the console's link); the other sells three: the
    marks of its receipts 2 and 3 wait 10 s on it (the relay uploads what it holds at once). Its
    indicator must not say All data is synced before the console holds them: once it says so, the
    seller is killed (nothing more leaves it) and the console's database holds its mark 3."""
    # heartbeats 2 s apart: the links' anti-entropy (5 heartbeats) sends no waiting mark early
    bed = Bed(tmp_path, console=True, mark_wait_ms=WAIT_MS, heartbeat_interval=2.0)
    try:
        r1, r2 = bed.linked_pair()

        def relay() -> NodeProcess | None:
            found = [n for n in (r1, r2) if n.status()["is_relay"]]
            return found[0] if len(found) == 1 and r1.status()["colour"] == "green" else None

        wait_for(lambda: relay() is not None, 30, "a relay", on=[r1.events, r2.events])
        seller, name = (r2, "R2") if relay() is r1 else (r1, "R1")
        wait_for(
            lambda: seller.status()["colour"] == "green", 30, "the seller green", on=[seller.events]
        )
        seller.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
        for _ in range(3):
            seller.sell(CASHIER, ["espresso"])
        wait_for(
            lambda: seller.status()["message"] == ALL_SYNCED,
            30,
            f"{name} saying All data is synced",
            on=[seller.events],
        )
        seller.kill()  # nothing more leaves it
        assert bed.console is not None
        bed.console.stop()
        assert console_mark(tmp_path / "console.db", bed.authority.venue_id, name) == 3
    finally:
        bed.kill_all()


def test_a_graceful_stop_sends_the_waiting_marks_before_its_goodbye(tmp_path: Path) -> None:
    bed = Bed(tmp_path, mark_wait_ms=WAIT_MS)
    try:
        r1, r2 = bed.linked_pair()
        sold_on_r2_held_by_r1(r1, r2, 4)
        assert r2.stop() == 0
        assert r1.stop() == 0
        assert held_mark(bed.node_db("R1"), "R2") == 4
    finally:
        bed.kill_all()


def test_a_kill_while_marks_wait_loses_no_mark_and_repeats_no_number(tmp_path: Path) -> None:
    bed = Bed(tmp_path, mark_wait_ms=WAIT_MS)
    try:
        r1, r2 = bed.linked_pair()
        sold_on_r2_held_by_r1(r1, r2, 5)
        r2.kill()  # marks 2..5 waited in its memory only
        again = bed.start("R2", bed.peer(r1))
        wait_for(
            lambda: linked(again, "R1") and linked(r1, "R2"),
            20,
            "R2 again linked",
            on=[again.events, r1.events],
        )
        again.kill()  # no goodbye: what R1 holds came in the first sync
        assert r1.stop() == 0
        assert held_mark(bed.node_db("R1"), "R2") == 5
        alone = bed.start("R2")
        receipt = alone.sell(CASHIER, ["espresso"])
        assert receipt["number"] == "R2-000006"
    finally:
        bed.kill_all()


def test_a_backup_restored_after_a_lost_disk_while_marks_waited_repeats_no_number(
    tmp_path: Path,
) -> None:
    """R2 is backed up after two sales, sells four more (R1 holds the receipts, the marks of 2..6
    wait), is killed and its disk lost; the backup is restored (``meshpos restore``): it learns its
    numbers again from R1 and must number above every receipt it issued."""
    bed = Bed(tmp_path, mark_wait_ms=WAIT_MS)
    try:
        r1, r2 = bed.linked_pair()
        r2.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
        sold = [r2.sell(CASHIER, ["espresso"]) for _ in range(2)]
        config = load_config(bed.configs["R2"], env={})
        backup_file = tmp_path / "R2.backup"
        taken = meshpos("backup", "--config", str(bed.configs["R2"]), "--out", str(backup_file))
        assert taken.returncode == 0, taken.stderr
        sold += [r2.sell(CASHIER, ["espresso"]) for _ in range(4)]
        wait_for(
            lambda: {r["id"] for r in sold} <= r1.receipt_ids(),
            10,
            "R2's receipts on R1",
            on=[r1.events],
        )
        r2.kill()
        shutil.rmtree(config.data_dir)  # the disk is lost, the identity with it
        restored = meshpos(
            "restore", "--config", str(bed.configs["R2"]), "--from", str(backup_file)
        )
        assert restored.returncode == 0, restored.stdout + restored.stderr
        again = bed.start("R2", bed.peer(r1))
        wait_for(
            lambda: linked(again, "R1") and linked(r1, "R2"),
            20,
            "the restored R2 linked",
            on=[again.events, r1.events],
        )
        assert again.status()["receipt_numbers_known"] is True
        receipt = again.sell(CASHIER, ["espresso"])
        assert receipt["number"] not in {r["number"] for r in sold}
        assert int(receipt["number"].rsplit("-", 1)[1]) > 6
    finally:
        bed.kill_all()
