"""A register's day on the domain model and the durable store: open a shift, sell, pay, refund, close.

Run it as it is: ``.venv/bin/python examples/register_day.py``. Every change is committed to SQLite before the
cashier is told it happened; run it twice and the second run continues the receipt numbers from the file.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER, MANAGER, sample_catalog
from meshpos.store import SqliteStore


async def main(db: Path) -> None:
    store = await SqliteStore.open(db)
    try:
        replica = Replica()  # a fresh client id on every start
        for info in await store.documents():  # only open business days are loaded
            update = await store.load(info.name)
            if update is not None:
                replica.apply(info.name, update)
        replica.take_updates()
        seq = int(await store.get_meta("receipt_seq:R1") or 0)
        venue = Venue(replica, device="R1", receipt_seq=seq)
        if not venue.catalog.products():
            sample_catalog(venue.catalog)

        async def commit() -> None:
            updates = [(u.document, u.update) for u in replica.take_updates()]
            await store.append(updates, meta={"receipt_seq:R1": str(venue.receipt_seq)})

        now = int(time.time() * 1000)
        venue.open_shift_now(CASHIER, 10_000, now)
        await commit()
        order = venue.open_order(CASHIER, now, table="4")
        venue.add_line(CASHIER, order.id, "burger", 2, now)
        venue.add_line(CASHIER, order.id, "lemonade", 2, now)
        await commit()
        result = venue.pay(CASHIER, order.id, "card", now, tip=200)
        await commit()  # only now may the register print the receipt
        assert result.receipt is not None
        print(f"receipt {result.receipt.number}: total {result.receipt.total / 100:.2f}")
        refund = venue.refund(
            MANAGER, result.receipt.id, now, lines={result.receipt.lines[1].line_id: 1}
        )
        await commit()
        print(f"refunded {refund.amount / 100:.2f}")
        shift = venue.close_shift(CASHIER, 10_000, now)
        await commit()
        assert shift.close is not None
        print(f"shift closed: expected cash {shift.close.expected_cash / 100:.2f}")
    finally:
        await store.close()


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "register.db"
    asyncio.run(main(path))
