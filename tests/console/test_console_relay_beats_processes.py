"""A relay keeps its console session while another venue's commit is stuck on the database.

docs/architecture.md (Relay and console), relays dropping their console session under upload: the
console's ticker awaited each venue's pump in turn, and a pump waits for its relay batch's commit,
which waits for the process's one PostgreSQL write connection. One slow commit (here: the documents
table locked by another session, as a long transaction or a busy cluster does) held up every other
venue's heartbeats, and their relays, hearing nothing for the idle timeout, dropped the session.

A real ``meshpos console`` on a real PostgreSQL, with two of the bench's relays (a register's sync
engine over the real TLS websocket): venue A uploads while its commit cannot proceed; venue B is
connected and quiet. B's relay must keep its session through the stall, and once the database is
free B's sales still reach the reports over it. (A's relay may drop: its own commit took longer than
the idle timeout, and its heartbeats rightly wait for that commit.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from meshpos.bench.console import Consoles, _count_receipts
from meshpos.bench.console_fixture import (
    closed_days,
    create_schema,
    load_venues,
    open_day_sales,
    shared_catalog,
    venue_id,
    venue_token,
)
from meshpos.bench.console_relay import HEARTBEAT_S, MAX_MESSAGE_SIZE, BenchRelay
from meshpos.harness.tls import console_tls
from meshpos.harness.wait import TimedOut, until
from meshpos.sync import SyncConfig

from .pgserver import PgServer

pytestmark = pytest.mark.slow

SALES = 3  # each venue's sales of today: enough to commit, few to keep it short
# the relay's idle timeout: a console silent this long loses the session
IDLE_S = SyncConfig.paced(HEARTBEAT_S, MAX_MESSAGE_SIZE).session.idle_timeout


def _commit_waiting(url: str) -> bool:
    """Is a session of the console waiting for a lock on ``documents`` (A's append is stuck)?"""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'documents' AND NOT l.granted"
        ).fetchone()
    return bool(row and row[0])


async def test_a_relay_keeps_its_session_while_another_venues_commit_is_stuck(
    postgres_server: PgServer, tmp_path: Path
) -> None:
    url = postgres_server.create_database()
    consoles: Consoles | None = None
    relays: list[BenchRelay] = []
    try:
        now_ms = int(time.time() * 1000)
        catalog = shared_catalog()
        days = closed_days(catalog, 1, 1, now_ms)
        await create_schema(url)
        await asyncio.to_thread(load_venues, url, 2, catalog, days)
        tls = console_tls(tmp_path)
        consoles = Consoles(tmp_path, url, tls, 1)
        await consoles.start()
        for k in range(2):
            relay = BenchRelay(venue_id(k), venue_token(k), catalog, tls.ca)
            relays.append(relay)
            await relay.connect(consoles.relay_url(0))
        await asyncio.gather(*(r.synced() for r in relays))
        uploading, quiet = relays
        sales = open_day_sales(catalog, SALES, now_ms, issued=len(days))

        # another session holds the documents table against writes: A's append waits in PostgreSQL,
        # on the console's one write connection, for longer than the relays' idle timeout
        blocker = await psycopg.AsyncConnection.connect(url)
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE documents IN SHARE ROW EXCLUSIVE MODE")
                await uploading.upload(sales)
                await until(
                    lambda: asyncio.to_thread(_commit_waiting, url),
                    30,
                    "the console's commit of A's batch waiting for the locked table",
                )
                # B's relay is quiet and its venue has nothing to commit: its session must live
                # through a stall of twice the idle timeout (it dropped within one on main)
                with pytest.raises(TimedOut):
                    await until(
                        lambda: quiet.dropped > 0,
                        2 * IDLE_S,
                        "B's relay dropping its console session",
                        every=0.2,
                    )
        finally:
            await blocker.close()
        assert quiet.dropped == 0

        # nor did the console time A's relay out while it was itself committing A's batch (it had
        # not read what the relay sent since): aborted then, the session's goodbye waited behind
        # that commit, and relay and console fell silent (the first attempt at this fix)
        status = await consoles.api(0).acall("GET", f"/api/venues/{venue_id(0)}/status")
        assert status["counters"].get("timeouts", 0) == 0

        # the stall is over: B's session still carries sales to the reports
        await quiet.upload(sales)

        async def reported() -> bool:
            return await asyncio.to_thread(_count_receipts, url, [venue_id(1)], sales.date) >= SALES

        await until(
            reported,
            60,
            "B's sales in the reports after the stall",
        )
        assert quiet.dropped == 0
    finally:
        await asyncio.gather(*(r.close() for r in relays), return_exceptions=True)
        if consoles is not None:
            await consoles.stop()
        postgres_server.drop_database(url)
