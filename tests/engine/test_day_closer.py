"""The closing rule on one in-process node whose clock the test moves (docs/architecture.md (Documents)):
a past day does not close while the console lacks any of it, or before it was idle ``day_idle_seconds``;
then it closes (ownday, the twenty-first session: an open shift of it no longer keeps it, its record is
kept). The console's view is set on the synchronizer as a relay would
learn it (a unit test: no console process)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from meshpos.errors import StoreError
from meshpos.harness.wait import until
from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.model.replica import decode_state_vector
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node
from tests.web.kit import make_configs

DAY_S = 86_400.0
IDLE_S = 0.3


def the_console_holds_everything(node: Node, date: str) -> None:
    """What the relay's heartbeats would say once the console holds all of ``date``."""
    sync = node._run().engine.sync
    status = node._run().status
    for name in (ledger_name(date), kitchen_name(date)):
        if name in sync.docs:
            sync.set_console_state(name, decode_state_vector(sync.docs[name].get_state()))
    sync.set_console_reports(ledger_name(date), status._tally(ledger_name(date)).counts())


async def test_a_past_day_closes_once_the_console_has_it_and_it_is_idle_its_open_shift_kept(
    tmp_path: Path,
) -> None:
    """(ownday, the twenty-first session) A past day's open shift no longer keeps it: the day closes with
    the shift's record kept (``model/kept_shifts.py``); the shift's close loads it, and it closes again
    once the console holds the close and it was idle, the record let go. Before, the open shift kept the
    day loaded (the first ``until`` times out on main)."""
    now = [1_764_064_800.0]  # 2025-11-25 10:00 UTC
    (config,) = make_configs(tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S)
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        closer = node._run().days
        shift = await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
        await node.write(lambda venue, at: venue.send_to_kitchen(CASHIER, order.id, at))
        await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))
        day = node.business_date(node.now_ms())
        now[0] += DAY_S  # the next day: ``day`` is past
        assert node.days().today > day
        assert closer.closable() == []  # the console lacks it
        engine = node._run().engine
        both = {ledger_name(day), kitchen_name(day)}
        the_console_holds_everything(node, day)
        await until(lambda: both <= engine.closed_days(), 10, "the day closed", on=[node])
        assert node.current_shift() == shift  # from its kept record
        assert node.venue.kept_shifts.day_of(shift.id) == day

        before = time.monotonic()  # (the closer's clock: the day is touched after this)
        closed = await node.close_shift(CASHIER, 0)  # loads ``day``: the close goes there
        assert day in node.days().loaded
        assert node.venue.ledger(day).shift(shift.id).close == closed.close
        assert node.current_shift() is None
        assert closer.closable() == []  # the console lacks the shift's close
        the_console_holds_everything(node, day)  # (not idle yet: ``took`` says it waited)
        name = ledger_name(day)
        await until(lambda: name in engine.closed_days(), 10, "closed again", on=[node])
        assert time.monotonic() - before >= IDLE_S  # it was idle that long after its last change
        assert day not in node.days().loaded
        assert node.venue.kept_shifts.day_of(shift.id) is None  # its record let go
        assert node.current_shift() is None


async def test_a_day_that_cannot_close_is_logged_once_not_at_every_look(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A past day whose close fails (a full disk) is tried again at every look (every IDLE_S / 2 here,
    every second by default): it is logged the first time and then at most once a minute with the count
    (``FAILURE_LOG_EVERY_S``); before, every look made an error line, 86,400 a day."""
    now = [1_764_064_800.0]  # 2025-11-25 10:00 UTC
    (config,) = make_configs(tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S)
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
        await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))
        await node.write(lambda venue, at: venue.close_shift(CASHIER, 0, at))
        day = node.business_date(node.now_ms())
        now[0] += DAY_S
        engine = node._run().engine
        tries: list[str] = []
        six = asyncio.Event()

        async def full_disk(name: str, keys: Iterable[str] = (), *, signed: bool = False) -> None:
            tries.append(name)
            if len(tries) >= 6:
                six.set()
            raise StoreError("database or disk is full")

        engine.close_day = full_disk  # type: ignore[method-assign]
        caplog.set_level(logging.ERROR, logger="meshpos.node")
        the_console_holds_everything(node, day)
        async with asyncio.timeout(10):  # six looks tried to close the day
            await six.wait()
        said = [r.getMessage() for r in caplog.records]
        said = [m for m in said if m.startswith("could not close business day")]
        assert said == [f"could not close business day {day}: database or disk is full"]
        assert day in node.days().loaded
