"""Retention (``register/retention.py``) on one in-process register whose clocks the test moves: closed
days past ``keep_days`` are dropped only when they closed on the console's signed word (issue 18,
keep). A day closed on unsigned word (a register in "auto" before its first statement) is kept once
the node is strict, and logged, until a signed statement says the console holds all of it
(``Synchronizer.held_closed``); a day closed while strict is dropped without that. A recent day closed
unsigned that no statement covers is opened again, and closes again on signed word. The console's view
is set on the synchronizer as a relay or a statement would make it (a unit test: no console process;
tests/sync/test_sync_held_closed.py checks the statements, tests/mesh/test_keep_days.py real processes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from meshpos.harness.wait import until
from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.register.retention import CHECK_EVERY, REOPEN_AFTER, Retention
from tests.engine.test_day_closer import DAY_S, IDLE_S, the_console_holds_everything
from tests.web.kit import make_configs


async def sell_a_day(node: Node) -> str:
    """One receipt on today's business day (and a kitchen ticket), its shift closed (so the day may
    close); the date."""
    await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
    order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
    await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))
    await node.write(lambda venue, at: venue.send_to_kitchen(CASHIER, order.id, at))
    await node.write(lambda venue, at: venue.pay(CASHIER, order.id, "card", at))
    await node.write(lambda venue, at: venue.close_shift(CASHIER, 0, at))
    return node.business_date(node.now_ms())


async def test_only_days_closed_on_signed_word_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_764_064_800.0]  # 2025-11-25 10:00 UTC
    (config,) = make_configs(
        tmp_path,
        [("R1", "register")],
        day_idle_seconds=IDLE_S,
        keep_days=1,
        console_signed="auto",
    )
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        engine, closer = node._run().engine, node._run().days
        mono = [0.0]
        retention = Retention(
            engine, closer._venue, config, monotonic=lambda: mono[0], now_ms=node.now_ms
        )
        closer.retention = retention  # (the closer's ticks drive it; the test moves its clock)

        async def look() -> None:
            """One look of the rule, and what it started done."""
            mono[0] += CHECK_EVERY
            await until(lambda: retention._checked_at == mono[0], 10, "a look", every=0.02)
            if retention._task is not None:
                await retention._task

        unsigned = await sell_a_day(node)
        both = {ledger_name(unsigned), kitchen_name(unsigned)}
        now[0] += DAY_S
        the_console_holds_everything(node, unsigned)  # an unsigned word: "auto", not strict yet
        await until(lambda: both <= engine.closed_days(), 10, "the day closed", on=[node])
        assert not both & engine.signed_closed
        now[0] += 3 * DAY_S  # the day is past keep_days
        await look()
        assert not engine.sync.statements.strict
        assert not any(engine.sync.is_dropped(n) for n in both)  # not strict: nothing drops

        engine.sync._turn_strict()  # the console's first statement came (and said nothing of it)
        caplog.set_level(logging.WARNING, logger="meshpos.node")
        await look()
        assert retention.droppable() == []
        assert not any(engine.sync.is_dropped(n) for n in both)  # closed unsigned: kept
        assert any("unsigned word" in r.getMessage() for r in caplog.records), caplog.text

        # a day closed now that the node is strict closes on signed word
        signed = await sell_a_day(node)
        now[0] += DAY_S
        the_console_holds_everything(node, signed)  # (as the console's statement would say)
        closed = {ledger_name(signed), kitchen_name(signed)}
        await until(  # (the mark is recorded just after the close is published)
            lambda: closed <= engine.signed_closed, 10, "the day closed signed", every=0.02
        )
        assert closed <= engine.closed_days()
        now[0] += 3 * DAY_S
        await look()
        assert all(engine.sync.is_dropped(n) for n in closed)
        assert not any(engine.sync.is_dropped(n) for n in both)

        # a signed statement says the console holds all of the older day: recorded, then dropped
        engine.sync.held_closed.update(both)
        await look()
        assert both <= engine.signed_closed
        assert engine.sync.held_closed == set()  # taken
        await look()
        assert all(engine.sync.is_dropped(n) for n in both)
        store = node._run().store
        assert set(await store.dropped_days()) == both | closed


async def test_a_day_past_the_horizon_that_the_console_now_lacks_is_not_dropped(
    tmp_path: Path,
) -> None:
    """(the twenty-third session) A day closed on an earlier console's signed word, past
    ``keep_days``, that the console reached now lacks (a console on a new database,
    ``sync/_epoch.py``; judged by ``sync/_lacking.py``) is kept so it can be opened again and sent;
    it drops once no statement says it lacks it. Before, the earlier word alone dropped it."""
    now = [1_764_064_800.0]
    (config,) = make_configs(
        tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S, keep_days=1, console_signed=True
    )
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        engine, closer = node._run().engine, node._run().days
        mono = [0.0]
        retention = Retention(
            engine, closer._venue, config, monotonic=lambda: mono[0], now_ms=node.now_ms
        )
        closer.retention = retention

        async def look() -> None:
            mono[0] += CHECK_EVERY
            await until(lambda: retention._checked_at == mono[0], 10, "a look", every=0.02)
            if retention._task is not None:
                await retention._task

        day = await sell_a_day(node)
        now[0] += DAY_S
        the_console_holds_everything(node, day)
        closed = {ledger_name(day), kitchen_name(day)}
        await until(lambda: closed <= engine.signed_closed, 10, "the day closed signed", every=0.02)
        # a console on a new database: its signed statement names the day nowhere
        lacking = engine.sync.lacking_days
        for name in closed:
            lacking.lacking[name] = lacking.affirmed[name] = 0.0
        now[0] += 3 * DAY_S  # past keep_days
        assert retention.droppable() == []
        await look()
        assert not any(engine.sync.is_dropped(n) for n in closed)
        lacking.forget(closed)  # (sent again and covered by the console's signed word)
        assert retention.droppable() == sorted(closed)


async def test_a_recent_day_closed_unsigned_and_not_covered_is_opened_and_closes_again_signed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The console may lack it (a device lied before the node's first statement): opened, it syncs
    towards the console and is pending until the console's signed word covers it."""
    now = [1_764_064_800.0]
    (config,) = make_configs(
        tmp_path, [("R1", "register")], day_idle_seconds=IDLE_S, keep_days=0, console_signed="auto"
    )
    async with make_node(config, discovery=False, clock=lambda: now[0]) as node:
        engine, closer = node._run().engine, node._run().days
        mono = [0.0]
        retention = Retention(
            engine, closer._venue, config, monotonic=lambda: mono[0], now_ms=node.now_ms
        )
        closer.retention = retention

        async def look(seconds: float = CHECK_EVERY) -> None:
            mono[0] += seconds
            await until(lambda: retention._checked_at == mono[0], 10, "a look", every=0.02)
            if retention._task is not None:
                await retention._task

        day = await sell_a_day(node)
        both = {ledger_name(day), kitchen_name(day)}
        now[0] += DAY_S
        the_console_holds_everything(node, day)  # the lie, taken in "auto"
        await until(lambda: both <= engine.closed_days(), 10, "the day closed", on=[node])
        engine.sync._turn_strict()
        await look()  # strict from this look on: the console's signed word may still cover it
        assert both <= engine.closed_days()
        caplog.set_level(logging.WARNING, logger="meshpos.node")
        await look(REOPEN_AFTER)  # it did not: the day opens again
        assert day in node.days().loaded
        assert not both & engine.closed_days()
        assert any("opened" in r.getMessage() for r in caplog.records), caplog.text
        assert engine.sync.pending(ledger_name(day)) > 0  # not at the console, as far as it knows
        the_console_holds_everything(node, day)  # (as the console's signed statement would say)
        await until(
            lambda: both <= engine.signed_closed, 10, "closed again, on signed word", every=0.02
        )
        await look()
        assert both <= engine.closed_days()  # and not opened again
