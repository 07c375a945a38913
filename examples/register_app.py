"""A register app on the node's Python API: open a shift, sell one order, pay cash, close the shift.

Run it as it is: ``.venv/bin/python examples/register_app.py``. It enrolls a register R1 in a throwaway
venue (a temporary directory, removed at the end), seeds the sample catalog and runs the node in this
process, on its own: no peers, no console, no mDNS. Every ``await node.<write>(...)`` returns once the change
is committed to the register's SQLite file, so what is printed is what survives a crash.

``--config node.toml`` runs the same sale on a device you enrolled yourself (the node must not be running:
this process becomes that node for the length of the sale).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from meshpos.config import Config, load_config
from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node


def money(cents: int) -> str:
    return f"{cents / 100:.2f}"


async def sell(config: Config) -> None:
    async with make_node(config, discovery=False) as node:
        shift = await node.open_shift(CASHIER, opening_cash=10_000)
        print(f"shift opened on {config.node_id} by {CASHIER} with {money(shift.opening_cash)}")

        order = await node.open_order(CASHIER, table="5")
        order = await node.add_line(CASHIER, order.id, "latte", 2, modifiers=["large", "oat"])
        order = await node.add_line(CASHIER, order.id, "croissant", 1)
        for line in order.lines:
            extras = ", ".join(m.name for m in line.modifiers)
            name = line.name + (f" ({extras})" if extras else "")
            print(f"  {line.quantity} x {name} at {money(line.unit_price)}")
        ticket = await node.send_to_kitchen(CASHIER, order.id)
        if ticket is not None:
            print(f"sent to the kitchen: ticket with {len(ticket.items)} item(s)")

        paid = await node.pay(CASHIER, order.id, "cash", tendered=5_000)
        assert paid.receipt is not None  # the payment covered everything due
        print(f"receipt {paid.receipt.number}: total {money(paid.receipt.total)}")
        print(f"cash tendered {money(5_000)}, change {money(paid.change)}")

        closed = await node.close_shift(CASHIER, counted_cash=10_000 + paid.receipt.total)
        assert closed.close is not None
        print(
            f"shift closed: expected cash {money(closed.close.expected_cash)}, "
            f"difference {money(closed.close.difference)}"
        )
        status = node.status()
        print(f"status: {status.colour} — {status.message}")


async def throwaway_register(root: Path) -> Config:
    """A venue CA and one enrolled register with the sample catalog, as if the console sent it."""
    authority = make_venue(root, "Example Café")
    return await make_device(authority, root, "R1", catalog=catalog_update())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", type=Path, help="an enrolled node's TOML file (not running)")
    args = parser.parse_args()
    if args.config is not None:
        await sell(load_config(args.config))
        return
    with tempfile.TemporaryDirectory(prefix="meshpos-register-app-") as tmp:
        await sell(await throwaway_register(Path(tmp)))


if __name__ == "__main__":
    asyncio.run(main())
