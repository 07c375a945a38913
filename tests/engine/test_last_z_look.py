"""A register's look for its last Z costs no task while a shift is open (issue 18, rounds).

It looked after every commit of a ledger day (several per receipt on every register) in a task of
its own, to find a shift open nearly always. Now that check is made where the commit is reported and
a task is started only when no shift is open (the day may end: ``tests/mesh/test_last_z.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from tests.web.kit import make_configs


async def test_a_sale_while_a_shift_is_open_starts_no_look_task(tmp_path: Path) -> None:
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        last_z = node._run().last_z
        assert last_z is not None
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        started: list[object] = []
        create_task = asyncio.get_running_loop().create_task

        def counted(coro, **kw):  # type: ignore[no-untyped-def]
            if getattr(coro, "__qualname__", "") == "LastZ._run":
                started.append(coro)
            return create_task(coro, **kw)

        asyncio.get_running_loop().create_task = counted  # type: ignore[method-assign]
        try:
            order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
            await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
            await node.write(lambda v, at: v.pay(CASHIER, order.id, "card", at))
        finally:
            del asyncio.get_running_loop().create_task
        assert started == []  # fails before: one look task per commit of the ledger day
        assert not last_z._wanted
