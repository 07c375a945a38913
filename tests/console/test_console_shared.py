"""Two console processes on one PostgreSQL: what one commits reaches the other's hub (issue 15).

Each console here is a :class:`ConsoleServer` with its own connections to one real PostgreSQL
database, in the test's event loop (the test with two ``meshpos console`` processes and a register is
``test_console_shared_processes.py``). An edit made through one console's hub is in the other's hub
within a second: announced with ``NOTIFY`` in the same transaction, read from the update log and
applied through the other's engine, without storing it a second time.
"""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack

import pytest

from meshpos.console import hash_token, new_venue_token, open_console_db
from meshpos.console.hub import VenueHub
from meshpos.console.server import ConsoleServer
from meshpos.engine import Committed, EngineEvent
from meshpos.harness.venue import catalog_update
from meshpos.harness.wait import until
from meshpos.model import Venue
from meshpos.model.documents import CATALOG

from .conftest import VENUE
from .pgserver import PgServer

PRODUCT = "burger"
DEADLINE_S = 1.0  # "within a second" (issue 15)


@pytest.fixture
def pg_url(postgres_server: PgServer) -> str:
    return postgres_server.create_database()


async def _console(stack: AsyncExitStack, url: str, **options: int) -> ConsoleServer:
    db = await open_console_db(url, **options)
    stack.push_async_callback(db.close)
    server = ConsoleServer(db, "127.0.0.1", 0, heartbeat_interval=0.2)
    await server.start()
    stack.push_async_callback(server.stop)
    return server


async def _prepared(url: str) -> None:
    db = await open_console_db(url)
    try:
        await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
        await db.append_updates(VENUE, CATALOG, [catalog_update()])
    finally:
        await db.close()


def _price(hub: VenueHub) -> int:
    return hub.venue.catalog.product(PRODUCT).price


async def _set_price(hub: VenueHub, price: int) -> None:
    def change(v: Venue) -> None:
        v.catalog.put_product(dataclasses.replace(v.catalog.product(PRODUCT), price=price))

    await hub.edit(change)


@pytest.mark.parametrize("compact_rows", [500, 1])
async def test_an_edit_through_one_console_reaches_the_others_hub_within_a_second(
    pg_url: str, compact_rows: int
) -> None:
    """``compact_rows=1``: every append folds the log into the snapshot at once, so the other
    process finds the rows gone and applies the whole document instead (nothing is missed)."""
    await _prepared(pg_url)
    async with AsyncExitStack() as stack:
        a = await (await _console(stack, pg_url, compact_rows=compact_rows)).hub(VENUE)
        b = await (await _console(stack, pg_url, compact_rows=compact_rows)).hub(VENUE)
        written: list[int] = []

        def count_own(event: EngineEvent) -> None:
            if isinstance(event, Committed) and event.local:
                written.append(event.updates.get(CATALOG, 0))

        a.engine.subscribe(count_own)
        b.engine.subscribe(count_own)
        rows = await b.db.log_rows(VENUE, CATALOG)
        old = _price(b)
        for step in (1, 2, 3):  # each edit, not just the first, and both ways round
            source, target = (a, b) if step % 2 else (b, a)
            price = old + step
            await _set_price(source, price)
            await until(
                lambda: _price(target) == price,  # noqa: B023 (awaited in this iteration)
                DEADLINE_S,
                f"edit {step} in the other console's hub",
                on=[target.engine],
            )
        if compact_rows > len(written) + rows:  # heard, not stored again: each edit's rows once
            assert await b.db.log_rows(VENUE, CATALOG) == rows + sum(written)


async def test_a_commit_heard_for_a_venue_without_a_hub_is_left_to_its_load(pg_url: str) -> None:
    await _prepared(pg_url)
    async with AsyncExitStack() as stack:
        a = await (await _console(stack, pg_url)).hub(VENUE)
        server_b = await _console(stack, pg_url)
        del server_b.hubs[VENUE]  # as if B had never opened the venue
        await _set_price(a, 999)
        b = await server_b.hub(VENUE)
        assert _price(b) == 999
