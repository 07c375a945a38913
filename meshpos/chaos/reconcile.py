"""After healing: which money records every node and the console hold, compared with what was acknowledged.

Nodes have no list endpoint for payments or refunds, so a node is read through what exists: ``GET
/api/receipts`` of the current business day, page after page (receipts, and payments through each receipt's ``payment_ids`` — every payment the cashiers
make completes its order, so each one is on a receipt) and ``GET /api/receipts/{id}`` for refunds. The
console is read from its records API, one table per kind. What could be checked on each holder is
reported with the result, so a holder that did not answer shows up as unchecked, not as clean.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshpos.chaos.workload import MONEY, Ledger
from meshpos.harness.procs import Proc
from meshpos.harness.receipts import todays_receipts
from meshpos.model.records import LEDGER_RECORDS

CONSOLE = "console"
# the console's column naming the record each kind belongs to (payment, receipt -> order; refund -> receipt);
# a no-sale opening belongs to none: its register explains an in-doubt one (workload.Cashier.no_sale)
_PARENT_COLUMN = {spec.table: spec.parent or "" for spec in LEDGER_RECORDS} | {
    "no_sales": "register"
}


@dataclass
class Holdings:
    """The money records one holder lists (with repeats, to find duplicates) and their parents."""

    ids: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in MONEY})
    parent: dict[str, str] = field(
        default_factory=dict
    )  # payment/receipt -> order, refund -> receipt
    totals: dict[str, int] = field(default_factory=dict)  # receipt id -> total
    numbers: dict[str, tuple[str, int]] = field(default_factory=dict)  # receipt -> (register, seq)
    checked: list[str] = field(default_factory=list)

    def held(self, kind: str) -> set[str]:
        return set(self.ids[kind])


async def node_holdings(proc: Proc, refund_receipts: Iterable[str] | None = None) -> Holdings:
    """One node's records; refunds only of ``refund_receipts`` (all receipts when None)."""
    got = Holdings()
    receipts = await todays_receipts(proc)
    if receipts is None:
        return got
    for receipt in receipts:
        got.ids["receipts"].append(receipt["id"])
        got.parent[receipt["id"]] = receipt["order_id"]
        got.totals[receipt["id"]] = int(receipt["total"])
        got.numbers[receipt["id"]] = (str(receipt["register"]), int(receipt["seq"]))
        for payment_id in receipt["payment_ids"]:
            got.ids["payments"].append(payment_id)
            got.parent[payment_id] = receipt["order_id"]
    got.checked += ["receipts", "payments"]
    held = {r["id"] for r in receipts}
    wanted = held if refund_receipts is None else held & set(refund_receipts)
    limit = asyncio.Semaphore(8)

    async def refunds_of(receipt_id: str) -> list[dict[str, Any]] | None:
        async with limit:
            answer = await proc.call("GET", f"/api/receipts/{receipt_id}", timeout=30)
        return list(answer.json()["refunds"]) if answer.ok else None

    found = await asyncio.gather(*(refunds_of(r) for r in sorted(wanted)))
    if all(f is not None for f in found):
        got.checked.append("refunds")
    for refunds in found:
        for refund in refunds or []:
            got.ids["refunds"].append(refund["id"])
            got.parent[refund["id"]] = refund["receipt_id"]
    opened = await proc.call("GET", "/api/no-sales", timeout=30)  # today's, as for receipts
    if opened.ok:
        got.checked.append("no_sales")
        for no_sale in opened.json():
            got.ids["no_sales"].append(no_sale["id"])
            got.parent[no_sale["id"]] = no_sale["register"]
    return got


async def console_holdings(console: Proc, venue_id: str) -> Holdings:
    got = Holdings()
    for kind in MONEY:
        answer = await console.call(
            "GET", f"/api/venues/{venue_id}/records?table={kind}", timeout=30
        )
        if not answer.ok:
            continue
        got.checked.append(kind)
        for row in answer.json():
            got.ids[kind].append(row["id"])
            parent = row.get(_PARENT_COLUMN[kind])
            if parent:
                got.parent[row["id"]] = str(parent)
            if kind == "receipts":
                got.totals[row["id"]] = int(row["total"])
                got.numbers[row["id"]] = (str(row["register"]), int(row["seq"]))
    return got


async def console_alarms(console: Proc, venue_id: str) -> dict[str, int]:
    """The console's alarms by kind (a money record arriving changed, a double receipt, ...): the
    workload never pays an order twice, so any alarm deserves a look."""
    answer = await console.call("GET", f"/api/venues/{venue_id}/alarms", timeout=30)
    if not answer.ok:
        return {"unreadable": 1}
    return dict(sorted(Counter(str(a["kind"]) for a in answer.json()).items()))


def _explained(kind: str, record: str, parents: dict[str, str], ledger: Ledger) -> bool:
    """An unacknowledged record is explained by an in-doubt call for its order (payment, receipt), its
    receipt (refund) or its register (no-sale opening)."""
    parent = parents.get(record, "")
    doubt = {"refunds": ledger.doubt_receipts, "no_sales": ledger.doubt_registers}
    return parent in doubt.get(kind, ledger.doubt_orders)


def _numbering(holders: dict[str, Holdings]) -> tuple[int, dict[str, list[int]]]:
    """Receipt numbers are final offline, one sequence per register: how many receipts share a
    (register, seq) with another receipt, and which numbers of each register's sequence are missing.
    A gap is not necessarily a loss (a sale in doubt may have taken a number and not committed it), so
    it is reported; a reused number is always a bug."""
    numbers: dict[str, tuple[str, int]] = {}
    for holding in holders.values():
        numbers |= holding.numbers
    owners = Counter(numbers.values())
    reused = sum(1 for number in numbers.values() if owners[number] > 1)
    seqs: dict[str, set[int]] = {}
    for register, seq in numbers.values():
        seqs.setdefault(register, set()).add(seq)
    gaps = {
        register: sorted(set(range(1, max(got) + 1)) - got)
        for register, got in sorted(seqs.items())
        if len(got) != max(got)
    }
    return reused, gaps


def reconcile(ledger: Ledger, holders: dict[str, Holdings]) -> dict[str, Any]:
    """Lost, duplicated, diverged (and the details behind them) for holdings of every node and the
    console. Pure: the convergence poll and the final count run the same comparison."""
    parents: dict[str, str] = {}
    for holding in holders.values():
        parents |= holding.parent
    lost: dict[str, set[str]] = {}
    gone: dict[str, set[str]] = {}
    duplicated: dict[str, set[str]] = {}
    unexpected: dict[str, set[str]] = {}
    expected: dict[str, set[str]] = {}
    for kind in MONEY:
        acked = ledger.acked[kind]
        seen = set().union(*(h.held(kind) for h in holders.values()))
        extras = seen - acked
        explained = {r for r in extras if _explained(kind, r, parents, ledger)}
        expected[kind] = acked | explained
        unexpected[kind] = extras - explained
        lost[kind] = {r for r in acked if any(r not in h.held(kind) for h in holders.values())}
        gone[kind] = acked - seen
        duplicated[kind] = {
            r for h in holders.values() for r, n in Counter(h.ids[kind]).items() if n > 1
        }
    diverged = sorted(
        name
        for name, holding in holders.items()
        if set(holding.checked) != set(MONEY)
        or any(holding.held(kind) != expected[kind] for kind in MONEY)
    )
    altered = sorted(
        r
        for h in holders.values()
        for r, total in h.totals.items()
        if r in ledger.totals and total != ledger.totals[r]
    )
    reused, gaps = _numbering(holders)
    console = holders.get(CONSOLE)
    return {
        "lost": sum(map(len, lost.values())),
        "lost_everywhere": sum(map(len, gone.values())),
        "duplicated": sum(map(len, duplicated.values())),
        "diverged": diverged,
        "unexpected": sum(map(len, unexpected.values())),
        "altered": len(set(altered)),
        "numbers_reused": reused,
        "number_gaps": gaps,
        "unacknowledged_present": sum(len(expected[k] - ledger.acked[k]) for k in MONEY),
        "present_at_console": {
            k: len(ledger.acked[k] & console.held(k)) if console else 0 for k in MONEY
        },
        "checked": {name: sorted(h.checked) for name, h in holders.items()},
        "examples": {
            "lost": sorted(r for k in MONEY for r in lost[k])[:5],
            "unexpected": sorted(r for k in MONEY for r in unexpected[k])[:5],
            "duplicated": sorted(r for k in MONEY for r in duplicated[k])[:5],
        },
    }
