"""A node's services let go of a closed business day: once ``close_day`` returns, nothing of the node (the
venue, the pages' day index, the status's tally) keeps the day's document alive, and a read of one of its
receipts through the node loads the day again (docs/architecture.md (Documents))."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from meshpos.errors import UnknownRecord
from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.node_adapters import make_node
from tests.web.kit import make_configs


async def test_a_closed_day_leaves_no_reference_and_loads_again_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
        order = await node.write(lambda venue, now: venue.open_order(CASHIER, now))
        await node.write(lambda v, now: v.add_line(CASHIER, order.id, "espresso", 1, now))
        paid = await node.write(lambda venue, now: venue.pay(CASHIER, order.id, "card", now))
        await node.write(lambda venue, now: venue.close_shift(CASHIER, 0, now))
        assert paid.receipt is not None
        receipt = paid.receipt
        today = node.business_date(node.now_ms())
        # every service that holds a day looks at it: the index, the status's tally, the venue
        assert [r.id for r in node.receipts(today, 10)] == [receipt.id]
        assert node.open_orders() == []
        assert node.current_shift() is None
        assert node.status().receipts == 1
        assert node.durability(receipt.id).receipt == receipt.number
        engine = node._run().engine
        # today is closed by hand here, and the day closer opens today again at its next look (the
        # twentieth session's rule: a loaded machine's full run saw it between the close and the
        # check): that look finds no closed day near today while this test looks at the closed day
        # (its tick is bound in the node's ticker at start: the look it makes is what is replaced)
        monkeypatch.setattr(node._run().days, "_closed_near", list)
        doc = weakref.ref(engine.replica.doc(ledger_name(today)))

        await engine.close_day(ledger_name(today), [receipt.id, receipt.number])
        gc.collect()
        assert doc() is None, "something still holds the closed day's document"
        assert today in node.days().closed
        assert today not in node.days().loaded
        assert node.status().receipts == 0
        with pytest.raises(UnknownRecord):
            node.receipt(receipt.id)

        assert await node.open_day_of(receipt.number)  # a reprint by its number finds the day
        assert node.receipt(receipt.id).number == receipt.number
        assert today in node.days().loaded
        await node.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
        refund = await node.write(lambda venue, now: venue.refund(MANAGER, receipt.id, now))
        assert [r.id for r in node.refunds(receipt.id)] == [refund.id]
