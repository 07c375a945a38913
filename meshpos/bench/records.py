"""``meshpos bench records``: what one sale costs in memory, on the wire and on disk (issue 15).

A sale is what a register does most: open an order, add two lines, take a card payment (which issues the
receipt; its lines are the sale's two stock movements). ``--sales`` of them are sold through the real model
(:class:`meshpos.model.Venue`) into a fresh replica, in a child process of their own so its memory is theirs:

* ``update_bytes_per_sale`` — the Yjs update bytes the sale's steps produce (what is committed to the store
  and sent to every peer and the console), all documents (the ledger day and the receipt-number mark);
  ``ledger_update_bytes_per_sale`` the ledger day's alone;
* ``state_bytes_per_sale`` — the ledger day's full state (``get_update()``: a compacted store row, a first
  sync's step 2) over the sales;
* ``live_kb_per_receipt`` — the selling process's resident memory after the sales (``gc`` and glibc's
  ``malloc_trim`` first, so freed memory is not counted) minus before, over the sales;
* ``loaded_kb_per_receipt`` — a fresh process's resident memory after loading that state into a new Doc
  (what a register pays for the day after a restart), minus before;
* ``store_bytes_per_sale`` — a real :class:`meshpos.store.SqliteStore` given each sale's updates as one
  append, its files' size (after close) over the sales. Compacted, a day is one row of about
  ``state_bytes_per_sale`` per sale.

The figures are what the encoding of the records costs; timing is not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from meshpos.bench.report import print_report
from meshpos.engine.memory import release_memory
from meshpos.errors import MeshposError

NOW_MS = 1_764_064_800_000  # 2025-11-25 10:00 UTC, inside the sample catalog's business day
PRODUCTS = ("espresso", "croissant")


def add_records_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sales", type=int, default=5000, help="sales sold and measured")
    parser.add_argument("--dir", default=None, help="directory for the files (default: a temp dir)")


def _rss_kb() -> int:
    """This process's resident memory, after collecting garbage and handing freed memory back to the OS
    (pycrdt's freed memory stays in the process until ``malloc_trim``)."""
    release_memory()  # not glibc: freed memory stays counted
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise MeshposError("no VmRSS in /proc/self/status")


def _sell(sales: int, out: Path) -> dict[str, Any]:
    """Child: sell ``sales`` sales; write each sale's updates (JSON lines of hex) and the day's state."""
    from meshpos.model import Replica, Venue
    from meshpos.model.documents import ledger_name
    from meshpos.model.sample import CASHIER, sample_catalog

    replica = Replica()
    venue = Venue(replica, device="R1", role="register")
    sample_catalog(venue.catalog, pin_hash="x")
    venue.open_shift_now(CASHIER, 10_000, NOW_MS)
    replica.take_updates()
    day = ledger_name(venue.business_date(NOW_MS))
    before = _rss_kb()
    total = ledger = 0
    with (out / "sales.jsonl").open("w") as sink:
        for i in range(sales):
            now = NOW_MS + i
            order = venue.open_order(CASHIER, now)
            for product in PRODUCTS:
                venue.add_line(CASHIER, order.id, product, 1, now)
            venue.pay(CASHIER, order.id, "card", now)
            updates = replica.take_updates()
            total += sum(len(u.update) for u in updates)
            ledger += sum(len(u.update) for u in updates if u.document == day)
            sink.write(json.dumps([[u.document, u.update.hex()] for u in updates]) + "\n")
    live = _rss_kb() - before
    state = replica.doc(day).get_update()
    (out / "state.bin").write_bytes(state)
    return {
        "update_bytes_per_sale": round(total / sales),
        "ledger_update_bytes_per_sale": round(ledger / sales),
        "state_bytes_per_sale": round(len(state) / sales),
        "live_kb_per_receipt": round(live / sales, 2),
    }


def _load(out: Path, sales: int) -> dict[str, Any]:
    """Child: load the day's state into a fresh Doc; the memory it costs per receipt."""
    from pycrdt import Doc

    state = (out / "state.bin").read_bytes()
    before = _rss_kb()
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    loaded = _rss_kb() - before  # the state is still held: only the Doc is counted
    assert doc is not None
    assert state
    return {"loaded_kb_per_receipt": round(loaded / sales, 2)}


async def _store(out: Path, sales: int) -> dict[str, Any]:
    from meshpos.store import SqliteStore

    path = out / "store.db"

    def size() -> int:
        return sum(p.stat().st_size for p in out.glob("store.db*"))

    async with await SqliteStore.open(path) as store:
        with (out / "sales.jsonl").open() as source:
            for line in source:
                await store.append([(name, bytes.fromhex(u)) for name, u in json.loads(line)])
    return {"store_bytes_per_sale": round(size() / sales)}


def _child(step: str, sales: int, out: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "meshpos.bench.records", step, str(sales), str(out)]
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise MeshposError(f"bench records: the {step} step failed (exit code {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_records_bench(args: argparse.Namespace) -> int:
    if not 0 < args.sales <= 100_000:
        raise MeshposError(f"--sales must be 1..100000, got {args.sales}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        out = Path(tmp)
        report: dict[str, Any] = {"sales": args.sales}
        report |= _child("sell", args.sales, out)
        report |= _child("load", args.sales, out)
        report |= asyncio.run(_store(out, args.sales))
    print_report(report, args.json)
    return 0


if __name__ == "__main__":
    _step, _sales, _out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(_sell(_sales, _out) if _step == "sell" else _load(_out, _sales)))
    os._exit(0)  # the measured state is not worth tearing down
