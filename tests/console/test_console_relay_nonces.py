"""Contract: the console nonces relays' upgrades took, in the database (SQLite and PostgreSQL alike).

A relay's proof is single-use (trust/relay_proof.py): its upgrade signs a nonce the console made, and
the console takes each once. Each console process remembered only the nonces it took, so a proof seen
on a ``ws://`` line passed again at another console process of the venue (two on one PostgreSQL) or at
the same one restarted. The database's ``relay_nonces`` table is shared by all of them and outlives a
restart; rows expire by the database's clock, a bounded batch per take. The processes themselves:
tests/console/test_console_nonce_processes.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from meshpos.console import ConsoleDB, open_console_db
from meshpos.console.sqlbase import SqlConsoleDB
from meshpos.console.tables import SCHEMA_VERSION
from meshpos.errors import StoreError
from meshpos.trust.relay_proof import NONCE_KEPT_S, NONCE_PURGE_BATCH

from .conftest import VENUE, Opener
from .test_console_shared import _as_schema

NONCE = "n" * 48


def sql(url: str, statement: str, rows: Sequence[Sequence[Any]] = ((),)) -> list[tuple[Any, ...]]:
    """Run ``statement`` (``?`` placeholders) on the database beside the console's connections, once
    per row of parameters; what the last one returned."""
    found: list[tuple[Any, ...]] = []
    if url.startswith("sqlite:"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            for row in rows:
                found = [tuple(r) for r in conn.execute(statement, row).fetchall()]
        return found
    with psycopg.connect(url, autocommit=True) as pg:
        for row in rows:
            cur = pg.execute(statement.replace("?", "%s"), row)
            found = [tuple(r) for r in cur.fetchall()] if cur.description else []
    return found


async def test_a_nonce_is_taken_once_across_a_restart_and_per_venue(
    venue_db: ConsoleDB, db_url: str
) -> None:
    assert await venue_db.take_relay_nonce(VENUE, NONCE) is True
    assert await venue_db.take_relay_nonce(VENUE, NONCE) is False  # a replayed proof
    assert await venue_db.take_relay_nonce("cafe-2", NONCE) is True  # another venue's is its own
    await venue_db.close()
    restarted = await open_console_db(db_url)  # a console process restarted on the same database
    try:
        assert await restarted.take_relay_nonce(VENUE, NONCE) is False
        assert await restarted.take_relay_nonce(VENUE, "m" * 48) is True
    finally:
        await restarted.close()


async def test_two_console_processes_taking_one_nonce_at_once_admit_one(
    venue_db: ConsoleDB, open_db: Opener
) -> None:
    """A relay's upgrade replayed to a second process at the same moment (on SQLite the second
    connection stands for it: two processes on one file are refused, but a restart is not)."""
    other = await open_db() if not venue_db.url.startswith("sqlite") else venue_db
    for i in range(10):
        nonce = f"{i:048d}"
        taken = await asyncio.gather(
            venue_db.take_relay_nonce(VENUE, nonce), other.take_relay_nonce(VENUE, nonce)
        )
        assert sorted(taken) == [False, True], (nonce, taken)


async def test_old_rows_go_a_bounded_batch_per_take_and_young_ones_stay(
    venue_db: ConsoleDB, db_url: str
) -> None:
    """Only relays with a good proof add rows, one per upgrade; each take deletes at most a batch of
    those taken over NONCE_KEPT_S ago by the database's clock (one clock for every process), so the
    table holds about the last minute's upgrades and no take stalls on a big delete."""
    assert isinstance(venue_db, SqlConsoleDB)
    now_ms = int(sql(db_url, f"SELECT {venue_db.dialect.now_ms}")[0][0])  # the database's clock
    kept_ms = int(NONCE_KEPT_S * 1000)
    old = [(VENUE, f"old{i:045d}", now_ms - kept_ms - 60_000 - i) for i in range(150)]
    young = [(VENUE, f"young{i:043d}", now_ms - kept_ms + 20_000) for i in range(5)]
    sql(
        db_url, "INSERT INTO relay_nonces (venue_id, nonce, taken_ms) VALUES (?, ?, ?)", old + young
    )

    def held() -> int:
        return int(sql(db_url, "SELECT count(*) FROM relay_nonces")[0][0])

    assert await venue_db.take_relay_nonce(VENUE, "a" * 48) is True
    assert held() == 150 + 5 + 1 - NONCE_PURGE_BATCH
    assert await venue_db.take_relay_nonce(VENUE, "b" * 48) is True
    assert await venue_db.take_relay_nonce(VENUE, "c" * 48) is True
    assert held() == 5 + 3  # the old ones are gone, the young ones kept
    for _, nonce, _ in young:  # still refused: a console may still take their proofs
        assert await venue_db.take_relay_nonce(VENUE, nonce) is False
    # an expired nonce is long refused by its age (NONCE_TTL_S) before its row goes
    assert await venue_db.take_relay_nonce(VENUE, old[0][1]) is True


async def test_a_schema_8_database_gets_the_nonce_table(db_url: str) -> None:
    db = await open_console_db(db_url)
    await db.close()
    _as_schema(db_url, 8)
    db = await open_console_db(db_url)
    try:
        assert await db.take_relay_nonce(VENUE, NONCE) is True
        assert await db.take_relay_nonce(VENUE, NONCE) is False
    finally:
        await db.close()
    version = (
        "PRAGMA user_version"
        if db_url.startswith("sqlite:")
        else "SELECT version FROM schema_version"
    )
    assert sql(db_url, version) == [(SCHEMA_VERSION,)]


async def test_a_take_that_cannot_be_made_is_an_error_never_a_yes(
    venue_db: ConsoleDB, db_url: str
) -> None:
    """The console refuses the upgrade on this error (503, the reason): a take that failed must not
    read as "taken now", nor leave anything behind once the table is back."""
    sql(db_url, "ALTER TABLE relay_nonces RENAME TO relay_nonces_away")
    with pytest.raises(StoreError, match="relay_nonces"):
        await venue_db.take_relay_nonce(VENUE, NONCE)
    sql(db_url, "ALTER TABLE relay_nonces_away RENAME TO relay_nonces")
    assert await venue_db.take_relay_nonce(VENUE, NONCE) is True
