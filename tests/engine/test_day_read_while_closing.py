"""A read of a closed day's receipt while the closer is at work (part flaky, the twenty-fourth session).

tests/outside/test_day_ahead_released.py once answered 404 for a closed day's receipt under load. The
race, made deterministic here by holding the store's close at a gate (a slow disk): the synchronizer
counts the day closed (``GET /api/days`` lists it) as soon as the close begins, but its receipts' keys are
in the store only once the close's transaction commits; a read in between found the receipt neither in
memory nor in the store and answered 404 ``unknown_receipt`` for a sale the register holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from meshpos.harness.wait import until
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


async def test_a_day_a_request_opened_stays_loaded_until_the_request_is_done(
    tmp_path: Path,
) -> None:
    """A request holds the closed day it opened (``Node.holding_days``, what the API wraps every
    request in): a request slower than ``day_idle_seconds`` (a shift report loading its days one by
    one, a refund waiting for its approver, a paused VM) found the day closed again by the time it read
    or wrote it. Before, the closer's look after the idle time closed it under the request (the first
    wait ends with the day closed)."""
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
        now[0] += DAY_S
        engine, closer = node._run().engine, node._run().days
        name = ledger_name(day)
        the_console_holds_everything(node, day)
        await until(lambda: name in engine.closed_days(), 30, "the day closed", on=[node])

        with node.holding_days():  # a request
            assert await node.open_day_of(paid.receipt.id)
            opened = time.monotonic()

            def looked_after_idle() -> bool:
                task = closer._task
                return name in engine.closed_days() or (
                    closer._checked_at - opened > IDLE_S and (task is None or task.done())
                )

            await until(
                looked_after_idle, 30, "a look of the closer after the idle time", every=0.05
            )
            assert name not in engine.closed_days(), "closed under the request"
            assert node.receipt(paid.receipt.id).id == paid.receipt.id
        released = time.monotonic()
        await until(lambda: name in engine.closed_days(), 30, "closed once released", on=[node])
        assert time.monotonic() - released >= IDLE_S  # idle counted from the request's end


async def test_a_cash_move_finds_the_shift_day_it_loaded_however_long_it_takes(
    tmp_path: Path,
) -> None:
    """``POST /api/shifts/current/cash-moves`` on a shift opened on a closed day loads that day
    (its record is there, ``web/shifts.py``) and then writes: a write that came after the closer's
    next look past the idle time (a loaded machine, a paused VM) found the day closed again and the
    cashier got an error for a drawer that is open. The write is held here until such a look."""
    now = [1_764_064_800.0]  # 2025-11-25 10:00 UTC
    (config,) = make_configs(tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S)
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        shift = await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 10_000, at))
        day = node.business_date(node.now_ms())
        now[0] += DAY_S  # the shift runs over into the next business day
        engine, closer = node._run().engine, node._run().days
        name = ledger_name(day)
        the_console_holds_everything(node, day)
        await until(lambda: name in engine.closed_days(), 30, "the shift's day closed", on=[node])
        write = node.write

        async def slow_write(*args: Any, **kwargs: Any) -> Any:
            loaded = time.monotonic()

            def looked_after_idle() -> bool:
                task = closer._task
                return name in engine.closed_days() or (
                    closer._checked_at - loaded > IDLE_S and (task is None or task.done())
                )

            await until(
                looked_after_idle, 30, "a look of the closer after the idle time", every=0.05
            )
            return await write(*args, **kwargs)

        node.write = slow_write  # type: ignore[method-assign]
        answer = await Client.of(node).call(
            "POST",
            "/api/shifts/current/cash-moves",
            {"user": CASHIER, "kind": "in", "amount": 700, "reason": "float"},
        )
        assert answer.status == 201, answer.body[:300]
        assert node.expected_cash(shift) == 10_700
