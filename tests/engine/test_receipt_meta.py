"""A register commits its receipt numbers with the sale that raises them, and not with every tap.

Issue 18, cpu: each local commit (four a sale: the order, two lines, the payment) wrote both rows of the
numbering's meta again, the same values three times in four. Real node, real SQLite file.
"""

from __future__ import annotations

from pathlib import Path

from meshpos.engine import Committed, EngineEvent
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from meshpos.store import SqliteStore
from tests.web.kit import make_configs

SALES = 3


async def test_local_commits_write_the_receipt_numbers_only_when_they_change(
    tmp_path: Path,
) -> None:
    """Fails before: every local commit carried ``receipt_seq`` and ``receipt_series``."""
    (config,) = make_configs(tmp_path, [("R1", "register")])
    written: list[dict[str, str]] = []  # each local commit's meta, in order

    def committed(event: EngineEvent) -> None:
        if isinstance(event, Committed) and event.local:
            written.append(dict(event.meta))

    async with make_node(config, discovery=False) as node:
        node.engine.subscribe(committed, Committed)
        await node.open_shift(CASHIER, 10_000)
        written.clear()  # (what the shift's commit carried is not a sale's)
        for k in range(SALES):
            order = await node.open_order(CASHIER, table=f"T{k}")
            await node.add_line(CASHIER, order.id, "espresso", 1)
            await node.add_line(CASHIER, order.id, "croissant", 1)
            await node.pay(CASHIER, order.id, "card")

    numbers = [meta["receipt_seq"] for meta in written if meta]
    assert numbers == [str(n) for n in range(1, SALES + 1)]  # each with the sale that raised it
    assert len(written) >= 4 * SALES  # every tap was committed (with nothing to add to the meta)
    async with await SqliteStore.open(config.db_path) as store:  # and the file holds the last
        assert await store.get_meta("receipt_seq") == str(SALES)
