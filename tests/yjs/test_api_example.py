"""docs/api.md's JavaScript example for stock Yjs clients, run as written against a real node.

The block is taken from the guide itself, so the example cannot drift from what works: it connects
with a bearer token, prints the orders of the day once synced, then each change as a sale is made.
"""

from __future__ import annotations

import re
from pathlib import Path

from meshpos.model.sample import CASHIER
from meshpos.trust import device_hostname
from meshpos.trust.identity import CA_FILE
from tests.yjs.kit import Bed, NodeScript
from tests.yjs.test_stock_clients import today

GUIDE = Path(__file__).parents[2] / "docs" / "api.md"
SECTION = "## Stock Yjs clients"
ANSWER_S = 20.0  # seconds for one line of the example's output (a first sync, a forwarded sale)


def example() -> str:
    """The first ``js`` block of the guide's stock Yjs clients section."""
    text = GUIDE.read_text()
    section = text[text.index(SECTION) :]
    found = re.search(r"```js\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"docs/api.md: no js block under {SECTION!r}"
    return found.group(1)


def test_the_guides_example_prints_the_days_orders_and_each_new_one(bed: Bed) -> None:
    bed.node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    first = bed.node.sell(CASHIER, ["espresso"])
    (bed.npm / "orders.mjs").write_text(example())
    env = {
        "MESHPOS_NODE": f"wss://{bed.host}:{bed.node.port}",
        "MESHPOS_CA": str(bed.root / "R1" / "identity" / CA_FILE),
        "MESHPOS_SERVERNAME": device_hostname("R1", bed.authority.venue_id),
        "MESHPOS_YJS_TOKEN": bed.tokens["tablet"],
    }
    script = NodeScript(bed.npm, "orders.mjs", [today(bed)], env)
    try:
        synced = script.next(ANSWER_S)
        assert synced == {"orders": [first["order_id"]]}, (synced, script.events)
        second = bed.node.sell(CASHIER, ["croissant"])
        changed = script.next(ANSWER_S)
        while second["order_id"] not in changed.get("changed", ()):  # the order's own later edits
            assert "changed" in changed, (changed, script.events)
            changed = script.next(ANSWER_S)
    finally:
        script.close()
