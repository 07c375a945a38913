"""Kept shift parts are pruned once no read needs them (the twenty-first session, part shifts): on
one in-process register whose clocks the test moves, a shift open over two days keeps its part of
the second when that day closes; the day is dropped past ``keep_days`` and the part stays while the
shift is open (its X adds it); once the shift closes, the next look of the retention forgets it, in
the store and in memory. On main a part stayed for good (``test_..._pruned`` fails at the last
assert). The rule's cases (a refund's part stays): tests/model/test_kept_parts.py."""

from __future__ import annotations

from pathlib import Path

from meshpos.harness.wait import until
from meshpos.model.documents import ledger_name
from meshpos.model.kept_parts import PART_META, PART_META_END
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.register.retention import CHECK_EVERY, Retention
from tests.engine.test_day_closer import DAY_S, IDLE_S, the_console_holds_everything
from tests.web.kit import make_configs


async def _sell(node: Node) -> None:
    order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
    await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
    await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))


async def _parts(node: Node) -> set[str]:
    return set(await node._run().store.meta_range(PART_META, PART_META_END))


async def test_a_closed_shifts_part_of_a_dropped_day_is_pruned(tmp_path: Path) -> None:
    now = [1_764_064_800.0]  # 2025-11-25 10:00 UTC
    (config,) = make_configs(
        tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S, keep_days=1, console_signed="auto"
    )
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        engine, closer = node._run().engine, node._run().days
        mono = [0.0]
        retention = Retention(
            engine, closer._venue, config, monotonic=lambda: mono[0], now_ms=node.now_ms
        )
        closer.retention = retention  # (the closer's ticks drive it; the test moves its clock)

        async def look() -> None:
            mono[0] += CHECK_EVERY
            await until(lambda: retention._checked_at == mono[0], 10, "a look", every=0.02)
            if retention._task is not None:
                await retention._task

        engine.sync._turn_strict()  # (the console's first signed statement came: days close signed)
        shift = await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        await _sell(node)
        now[0] += DAY_S
        second = node.business_date(node.now_ms())
        await _sell(node)
        now[0] += DAY_S  # the second day is past; the first holds the open shift
        the_console_holds_everything(node, second)
        both = {ledger_name(second)}  # (no kitchen ticket: no kitchen document)
        await until(lambda: both <= engine.closed_days(), 10, "the day closed", on=[node])
        await until(lambda: both <= engine.signed_closed, 10, "closed signed", every=0.02)
        key = f"{PART_META}{shift.id}@{second}"
        assert await _parts(node) == {key}

        now[0] += 3 * DAY_S  # past keep_days
        await look()
        assert engine.sync.is_dropped(ledger_name(second))
        await look()
        assert await _parts(node) == {key}  # the shift is open: its X adds the part
        assert node.shift_report(shift.id).receipts == 2

        await node.write(lambda venue, at: venue.close_shift(CASHIER, 0, at))
        await look()
        assert await _parts(node) == set()
        assert closer._venue.kept_parts.shifts_of(second) == set()
