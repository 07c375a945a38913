"""What only PostgreSQL can do to us: dropped connections, shared databases, odd encodings."""

from __future__ import annotations

import psycopg
import pytest

from meshpos.console import hash_token, new_venue_token, open_console_db
from meshpos.errors import StoreError

from .conftest import VENUE
from .day import LEDGER
from .pgserver import PgServer
from .test_console_storage import content, receipts_doc


@pytest.fixture
def pg_url(postgres_server: PgServer) -> str:
    return postgres_server.create_database()


def _kill_connections(server: PgServer, url: str) -> int:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return len(rows)


async def test_a_dropped_connection_is_replaced(postgres_server: PgServer, pg_url: str) -> None:
    db = await open_console_db(pg_url)
    try:
        await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
        assert _kill_connections(postgres_server, pg_url) == 2
        assert await db.venues() == [VENUE]  # a read retries once on a new connection
        _, updates = receipts_doc(3)
        with pytest.raises(StoreError, match="console database"):
            await db.append_updates(VENUE, LEDGER, updates)  # a write fails loudly...
        await db.append_updates(VENUE, LEDGER, updates)  # ...and works on the next call
        assert set(content(await db.load_document(VENUE, LEDGER))) == {"r0", "r1", "r2"}
    finally:
        await db.close()


async def test_a_database_of_something_else_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
    with pytest.raises(StoreError, match="tables of something else"):
        await open_console_db(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # and nothing was created
        names = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
    assert names == ["orders"]


async def test_a_non_utf8_database_is_refused(postgres_server: PgServer) -> None:
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
        conn.execute(
            "CREATE DATABASE meshpos_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )
    url = postgres_server.url("meshpos_ascii")
    try:
        with pytest.raises(StoreError, match="needs a UTF8 database"):
            await open_console_db(url)
    finally:
        postgres_server.drop_database(url)
