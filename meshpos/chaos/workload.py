"""The cashiers: sales (some split by items into two bills), refunds and "no sale" drawer openings at a
modest rate through each register's API, while faults happen.

A money record counts as **acknowledged** only when the API call that wrote it returned success: the
node commits before it answers, so from then on losing it is a bug. A payment or refund call that got
*no* answer (the node was killed mid-request, or the answer timed out) is **in doubt**: it may or may not
have been committed. Its ids are unknown, but the order (for a payment and its receipt) or the receipt
(for a refund) is known, so a record that turns up later for an in-doubt request is explained, and one
that turns up for nothing the cashiers did is reported as unexpected. A no-sale opening belongs to no
other record: an in-doubt one is known by its register.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from meshpos.harness.procs import Proc
from meshpos.model.sample import CASHIER, MANAGER

PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")
MONEY = ("receipts", "payments", "refunds", "no_sales")
SPLIT_SHARE = 0.25  # of sales with more than one line: split by items, the bill paid first
NO_SALE_SHARE = 0.1  # of sales followed by a no-sale opening of the drawer


@dataclass
class Ledger:
    """What the cashiers were told (acknowledged) and what they could not be sure of (in doubt)."""

    acked: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in MONEY})
    totals: dict[str, int] = field(default_factory=dict)  # receipt id -> acknowledged total
    receipts: list[str] = field(default_factory=list)  # acknowledged, in order (refund candidates)
    refund_tried: set[str] = field(
        default_factory=set
    )  # receipts a refund was acked or in doubt for
    doubt_orders: set[str] = field(default_factory=set)  # payment calls without an answer
    doubt_receipts: set[str] = field(default_factory=set)  # refund calls without an answer
    doubt_registers: set[str] = field(default_factory=set)  # no-sale calls without an answer
    sales: int = 0  # attempted
    refused: int = 0  # register down, or a call failed cleanly before any money was written (4xx)
    refunds_refused: int = 0  # mostly 404: the receipt had not reached that register yet
    splits: int = 0  # orders split by items whose bill and rest were both paid and acknowledged
    splits_unbalanced: int = 0  # ... whose two receipts do not sum to the order's total before

    def summary(self) -> dict[str, int]:
        return {
            "attempted": self.sales,
            "refused": self.refused,
            "refunds_refused": self.refunds_refused,
            "in_doubt": len(self.doubt_orders)
            + len(self.doubt_receipts)
            + len(self.doubt_registers),
            "splits": self.splits,
            "splits_unbalanced": self.splits_unbalanced,
        }


class Cashier:
    """One register's cashier: a sale every ``period`` seconds (jittered), now and then a refund."""

    def __init__(self, proc: Proc, ledger: Ledger, period: float, rng: random.Random) -> None:
        self.proc = proc
        self.ledger = ledger
        self.period = period
        self.rng = rng

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.ledger.sales += 1
            if self.proc.alive:
                await self.sell()
                if self.ledger.receipts and self.rng.random() < 0.15:
                    await self.refund()
                if self.rng.random() < NO_SALE_SHARE:
                    await self.no_sale()
            else:
                self.ledger.refused += 1
            pause = self.period * self.rng.uniform(0.5, 1.5)
            try:
                async with asyncio.timeout(pause):
                    await stop.wait()
            except TimeoutError:
                continue

    async def sell(self) -> None:
        ledger, call = self.ledger, self.proc.call
        opened = await call("POST", "/api/orders", {"user": CASHIER})
        if not opened.ok:
            ledger.refused += 1
            return
        order_id = opened.json()["id"]
        order: dict[str, Any] = {}
        for _ in range(self.rng.randint(1, 3)):
            line = {"user": CASHIER, "product_id": self.rng.choice(PRODUCTS)}
            added = await call("POST", f"/api/orders/{order_id}/lines", line)
            if not added.ok:
                ledger.refused += 1
                return
            order = added.json()
        bill = ""
        if len(order["lines"]) > 1 and self.rng.random() < SPLIT_SHARE:
            bill = await self.split(order)
        totals = [await self.pay(bill)] if bill else []
        totals.append(await self.pay(order_id))
        if bill and None not in totals:
            ledger.splits += 1
            ledger.splits_unbalanced += sum(t or 0 for t in totals) != order["totals"]["total"]

    async def split(self, order: dict[str, Any]) -> str:
        """Split the order's first line off into a new bill (a split by items): the bill's id, or ""
        when the split was refused or got no answer (then the order is paid as it then stands)."""
        first = order["lines"][0]["id"]
        body = {"user": CASHIER, "lines": {first: 1}}
        done = await self.proc.call("POST", f"/api/orders/{order['id']}/split", body)
        return str(done.json()["id"]) if done.ok else ""

    async def pay(self, order_id: str) -> int | None:
        """Pay all that is due; the receipt's total once acknowledged, else None."""
        ledger = self.ledger
        method = self.rng.choice(("card", "cash"))
        paid = await self.proc.call(
            "POST", f"/api/orders/{order_id}/payments", {"user": CASHIER, "method": method}
        )
        if paid.status == 0 or paid.status >= 500:
            ledger.doubt_orders.add(order_id)
        elif not paid.ok:
            ledger.refused += 1
        else:
            result = paid.json()
            self._acknowledge_payment(result)
            if result.get("receipt"):
                return int(result["receipt"]["total"])
        return None

    def _acknowledge_payment(self, result: dict[str, Any]) -> None:
        self.ledger.acked["payments"].add(result["payment"]["id"])
        receipt = result.get("receipt")
        if receipt:
            self.ledger.acked["receipts"].add(receipt["id"])
            self.ledger.totals[receipt["id"]] = int(receipt["total"])
            self.ledger.receipts.append(receipt["id"])

    async def refund(self) -> None:
        """Refund an acknowledged receipt of any register, at most once each; a receipt that has not
        reached this register yet is 404, a clean refusal."""
        ledger = self.ledger
        candidates = [r for r in ledger.receipts if r not in ledger.refund_tried]
        if not candidates:
            return
        receipt_id = self.rng.choice(candidates)
        body = {"user": MANAGER, "method": "card", "reason": "chaos"}
        done = await self.proc.call("POST", f"/api/receipts/{receipt_id}/refunds", body)
        if done.status == 0 or done.status >= 500:
            ledger.refund_tried.add(receipt_id)
            ledger.doubt_receipts.add(receipt_id)
        elif done.ok:
            ledger.refund_tried.add(receipt_id)
            ledger.acked["refunds"].add(done.json()["id"])
        else:
            ledger.refunds_refused += 1

    async def no_sale(self) -> None:
        """Open the drawer with no sale: a recorded entry, acknowledged like a money record."""
        ledger = self.ledger
        body = {"user": CASHIER, "reason": "chaos"}
        done = await self.proc.call("POST", "/api/shifts/current/no-sales", body)
        if done.status == 0 or done.status >= 500:
            ledger.doubt_registers.add(self.proc.name)
        elif done.ok:
            ledger.acked["no_sales"].add(done.json()["id"])
        else:
            ledger.refused += 1
