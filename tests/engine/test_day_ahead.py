"""A business day a register's clock made while it was ahead (open rules, the twentieth session): once
the clock is corrected, the day is after tomorrow and closes by the usual rule (shift closed, the console
holds it, idle), where "before today" alone kept it in memory until its date; the day before its date it
is opened again, so its first sale finds it open. One in-process node whose clock the test moves (the
console's view set on the synchronizer as a relay would learn it, as tests/engine/test_day_closer.py).

On main the corrected node keeps the day loaded (the first wait times out)."""

from __future__ import annotations

from pathlib import Path

from meshpos.harness.wait import until
from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from tests.web.kit import make_configs

from .test_day_closer import DAY_S, IDLE_S, the_console_holds_everything


async def test_a_day_made_ahead_closes_once_the_clock_is_corrected_and_opens_the_day_before(
    tmp_path: Path,
) -> None:
    right = 1_764_064_800.0  # 2025-11-25 10:00 UTC
    now = [right + 3 * DAY_S]  # the register's clock three days ahead
    (config,) = make_configs(tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S)
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        engine = node._run().engine
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
        await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))
        await node.write(lambda venue, at: venue.close_shift(CASHIER, 0, at))
        ahead = node.business_date(node.now_ms())
        now[0] = right  # the clock corrected (NTP)
        assert node.days().today < ahead
        the_console_holds_everything(node, ahead)
        both = {ledger_name(ahead), kitchen_name(ahead)}
        await until(lambda: ledger_name(ahead) in engine.closed_days(), 10, "the day ahead closed")
        assert ahead in node.days().closed
        assert ahead not in node.days().loaded

        now[0] = right + 2 * DAY_S  # the day before its date: opened again, before its first sale
        await until(lambda: not both & engine.closed_days(), 10, "the day ahead opened", on=[node])
        assert ahead in node.days().loaded
        now[0] = right + 3 * DAY_S
        assert node.days().today == ahead
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
        paid = await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))
        assert paid.receipt is not None
        assert len(node.venue.ledger(ahead).receipts()) == 2  # its first sale is still there
