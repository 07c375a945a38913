"""A read of a closed day's receipt while the closer is at work (part flaky, the twenty-fourth session).

tests/outside/test_day_ahead_released.py once answered 404 for a closed day's receipt under load. The
race, made deterministic here by holding the store's close at a gate (a slow disk): the synchronizer
counts the day closed (``GET /api/days`` lists it) as soon as the close begins, but its receipts' keys are
in the store only once the close's transaction commits; a read in between found the receipt neither in
memory nor in the store and answered 404 ``unknown_receipt`` for a sale the register holds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from tests.engine.test_day_closer import the_console_holds_everything
from tests.web.kit import Client, make_configs

DAY_S = 86_400.0
IDLE_S = 0.3


async def test_a_receipt_read_while_its_day_closes_is_found(tmp_path: Path) -> None:
    now = [1_764_064_800.0]  # 2025-11-25 10:00 UTC
    (config,) = make_configs(tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S)
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
        paid = await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))
        await node.write(lambda venue, at: venue.close_shift(CASHIER, 0, at))
        assert paid.receipt is not None
        day = node.business_date(node.now_ms())
        now[0] += DAY_S  # the next day: ``day`` is past
        engine = node._run().engine
        store = engine.store
        gate, closing = asyncio.Event(), asyncio.Event()
        close = store.close

        async def slow_disk(name: str, sv: bytes, ds: bytes, keys: Iterable[str]) -> None:
            closing.set()
            await gate.wait()
            await close(name, sv, ds, keys)

        store.close = slow_disk  # type: ignore[method-assign,assignment]
        find = engine.find_closed

        async def asked(key: str) -> str | None:
            gate.set()  # the read looks for the receipt's closed day now: the close goes on
            return await find(key)  # (the store's look is queued before the close can commit)

        engine.find_closed = asked  # type: ignore[method-assign]
        the_console_holds_everything(node, day)
        async with asyncio.timeout(30):
            await closing.wait()
        assert ledger_name(day) in engine.closed_days()  # what GET /api/days says meanwhile
        read = asyncio.ensure_future(
            Client.of(node).call("GET", f"/api/receipts/{paid.receipt.id}")
        )
        answer = await asyncio.wait_for(read, 30)
        assert answer.status == 200, answer.body[:300]
        assert answer.json()["receipt"]["id"] == paid.receipt.id
