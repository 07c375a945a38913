"""A kitchen ticket still being made when its business day ends stays on the board (clock part).

The board and a register's "no kitchen holds it" list read today's business day by default. A ticket
sent at 03:59 (the sample venue's cut-off is 04:00 UTC) or before a manager ended the day early
belongs to the day before: before this, it left the kitchen screen at the cut-off while the food was
still cooking, and the register's alarm for a ticket no kitchen holds went quiet. It stays for two
hours after the cut-off (``BEING_MADE_MS``), then the past day is not read again. The node's clock is
set through its seam (``make_node(clock=...)``) so the test crosses the cut-off every time it runs.
The day stays loaded meanwhile (``register.days``): a closed day's tickets leave every board.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.model.kitchen import BEING_MADE_MS
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.node_adapters import make_node
from meshpos.register.days import DayCloser
from tests.engine.test_day_closer import the_console_holds_everything

from .kit import Client, make_configs

#: a minute before the sample venue's cut-off (04:00, UTC), set once the node runs (its start may take
#: seconds on a loaded machine): the ticket's day is the 7th
BEFORE_CUTOFF = dt.datetime(2026, 12, 8, 3, 59, tzinfo=dt.UTC).timestamp()
PAST_CUTOFF_S = 120.0  # from BEFORE_CUTOFF to 04:01: the 8th's business day


class Clock:
    """The node's wall clock: real seconds passing, from an instant the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def set(self, at: float) -> None:
        self.offset = at - time.time()

    def forward(self, seconds: float) -> None:
        self.offset += seconds


@contextlib.asynccontextmanager
async def register(tmp_path: Path, clock: Clock) -> AsyncIterator[Client]:
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False, clock=clock) as node:
        yield Client.of(node)


async def sell_to_the_kitchen(reg: Client) -> str:
    """A paid order whose ticket nobody has bumped yet (fast food: paid first, then cooked)."""
    await reg.ok("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = await reg.ok("POST", "/api/orders", {"user": CASHIER, "table": "4"})
    path = f"/api/orders/{order['id']}"
    await reg.ok("POST", f"{path}/lines", {"user": CASHIER, "product_id": "espresso"})
    sent = await reg.ok("POST", f"{path}/kitchen", {"user": CASHIER})
    await reg.ok("POST", f"{path}/payments", {"user": CASHIER, "method": "card"})
    ticket: str = sent["ticket"]["id"]
    return ticket


@pytest.mark.parametrize("end", ["cut-off", "ended early"])
async def test_a_ticket_being_made_stays_on_the_board_when_its_day_ends(
    tmp_path: Path, end: str
) -> None:
    clock = Clock()
    async with register(tmp_path, clock) as reg:
        clock.set(BEFORE_CUTOFF)
        board = await reg.ok("GET", "/api/kitchen/tickets")
        day = board["date"]
        assert day == "2026-12-07"
        ticket = await sell_to_the_kitchen(reg)
        if end == "cut-off":
            clock.forward(PAST_CUTOFF_S)
        else:
            await reg.ok("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
            await reg.ok("POST", "/api/day/close", {"user": MANAGER})
        board = await reg.ok("GET", "/api/kitchen/tickets")
        assert board["date"] == "2026-12-08"
        assert [t["id"] for t in board["tickets"]] == [ticket]
        unheld = await reg.ok("GET", "/api/kitchen/unheld")
        assert [t["id"] for t in unheld["tickets"]] == [ticket]
        # a day asked for by name is that day alone; a served ticket of a past day is done
        assert (await reg.ok("GET", "/api/kitchen/tickets?date=2026-12-08"))["tickets"] == []
        served = await reg.ok("GET", "/api/kitchen/tickets?states=served")
        assert served["tickets"] == []
        # two hours past the cut-off it is forgotten, not cooking: the past day is not read again
        clock.set(BEFORE_CUTOFF + PAST_CUTOFF_S + BEING_MADE_MS / 1000)
        assert (await reg.ok("GET", "/api/kitchen/tickets"))["tickets"] == []
        assert (await reg.ok("GET", "/api/kitchen/unheld"))["tickets"] == []


async def test_a_day_with_a_ticket_being_made_stays_loaded_until_two_hours_past_its_cut_off(
    tmp_path: Path,
) -> None:
    """Before, the day closed a minute after its cut-off once the console held it (the rule's other
    conditions), and its ticket left the board however the day ended."""
    clock = Clock()
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False, clock=clock) as node:
        clock.set(BEFORE_CUTOFF)
        reg = Client.of(node)
        await sell_to_the_kitchen(reg)
        await reg.ok("POST", "/api/shifts/current/close", {"user": CASHIER, "counted_cash": 0})
        day = "2026-12-07"
        clock.forward(PAST_CUTOFF_S)  # the day is past
        the_console_holds_everything(node, day)
        run = node._run()
        idle = [0.0]  # the rule's idle time, moved by the test (the node's own look waits 60 s)
        closer = DayCloser(
            run.engine,
            run.numbers.venue,
            run.status,
            config,
            monotonic=lambda: idle[0],
            now_ms=node.now_ms,
        )
        idle[0] += config.day_idle_seconds + 1
        assert closer.closable() == []  # its espresso is still being made
        clock.set(BEFORE_CUTOFF + PAST_CUTOFF_S + BEING_MADE_MS / 1000)
        assert closer.closable() == [day]
