"""Two console processes on one PostgreSQL: what one commits reaches the other's hub (issue 15).

Each console here is a :class:`ConsoleServer` with its own connections to one real PostgreSQL
database, in the test's event loop (the test with two ``meshpos console`` processes and a register is
``test_console_shared_processes.py``). An edit made through one console's hub is in the other's hub
within a second: announced with ``NOTIFY`` in the same transaction, read from the update log and
applied through the other's engine, without storing it a second time. Rows materialised from an
older version of a day than the database holds are refused whole (a stale process never rolls a row
back), a device's sighting only moves forward, and a schema-1 database gains what this needs.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any, cast

import psycopg
import pytest
from pycrdt import Doc

from meshpos.console import ConsoleDB, hash_token, new_venue_token, open_console_db
from meshpos.console.devices import Sighting
from meshpos.console.hub import VenueHub
from meshpos.console.materialise import ledger_rows
from meshpos.console.records import AuditEntry, RecordBatch
from meshpos.console.server import ConsoleServer
from meshpos.console.tables import REPORT_INDEXES
from meshpos.errors import StaleWrite
from meshpos.harness.venue import catalog_update
from meshpos.harness.wait import until
from meshpos.model import CorruptRegistry, Ledger, Replica, Venue
from meshpos.model.documents import CATALOG
from meshpos.model.sample import CASHIER

from ..relay.consoles import SETTLE_S
from .conftest import VENUE
from .day import DATE, LEDGER, NOW, make_register
from .pgserver import PgServer

PRODUCT = "burger"
DEADLINE_S = 1.0  # "within a second" (issue 15)


@pytest.fixture
def pg_url(postgres_server: PgServer) -> str:
    return postgres_server.create_database()


async def _console(stack: AsyncExitStack, url: str, **options: Any) -> ConsoleServer:
    db = await open_console_db(url, **options)
    stack.push_async_callback(db.close)
    server = ConsoleServer(db, "127.0.0.1", 0, heartbeat_interval=0.2)
    await server.start()
    stack.push_async_callback(server.stop, settle_within=SETTLE_S)
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
    pg_url: str, compact_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compact_rows=1``: every append folds the log into the snapshot at once, so the other
    process finds the rows gone and applies the whole document instead (nothing is missed)."""
    await _prepared(pg_url)
    async with AsyncExitStack() as stack:
        a = await (await _console(stack, pg_url, compact_rows=compact_rows)).hub(VENUE)
        b = await (await _console(stack, pg_url, compact_rows=compact_rows)).hub(VENUE)
        written: list[int] = []  # the catalog updates each process appended (its edits)
        for hub in (a, b):
            append = hub.db.append_documents

            async def counted(
                venue_id: str,
                updates: Mapping[str, Sequence[bytes]],
                *,
                _append: Any = append,
                **kw: Any,
            ) -> dict[str, int]:
                written.append(len(updates.get(CATALOG, ())))
                return cast(dict[str, int], await _append(venue_id, updates, **kw))

            monkeypatch.setattr(hub.db, "append_documents", counted)
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
        assert server_b.hubs == {}  # a console process loads no venue at start
        await _set_price(a, 999)
        b = await server_b.hub(VENUE)
        assert _price(b) == 999


def _rows(doc: Doc[Any]) -> RecordBatch:
    return ledger_rows(Ledger.snapshot(doc, DATE, corrupt=CorruptRegistry()))


async def test_rows_from_an_older_version_of_a_day_never_roll_a_row_back(
    venue_db: ConsoleDB,
) -> None:
    """Process B holds the day as it was when the shift was open; process A committed and
    materialised its close. B's rows (an open shift) are refused whole; A's stay."""
    register = make_register("R1")
    register.open_shift_now(CASHIER, 1_000, NOW)
    doc = register.replica.doc(LEDGER)
    v1 = await venue_db.append_updates(VENUE, LEDGER, [doc.get_update()])
    stale: Doc[Any] = Doc()
    stale.apply_update(doc.get_update())  # what B holds: version v1
    register.close_shift(CASHIER, 1_000, NOW + 60_000)
    v2 = await venue_db.append_updates(VENUE, LEDGER, [doc.get_update()])
    assert v1 is not None
    assert v2 is not None
    assert v2 > v1
    current, old = _rows(doc), _rows(stale)
    assert current.rows["shifts"][0].state != old.rows["shifts"][0].state  # a rollback would show

    await venue_db.write_records(VENUE, current, version=v2)  # A
    closed = await venue_db.records(VENUE, "shifts")
    with pytest.raises(StaleWrite, match="nothing was written"):
        await venue_db.write_records(VENUE, old, version=v1)  # B, not having heard A
    assert await venue_db.records(VENUE, "shifts") == closed
    stale.apply_update(doc.get_update())  # B hears A's commit: the same rows, written again
    await venue_db.write_records(VENUE, _rows(stale), version=v2)
    assert await venue_db.records(VENUE, "shifts") == closed


async def test_a_schema_1_database_is_migrated_and_keeps_its_documents(db_url: str) -> None:
    db = await open_console_db(db_url)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    await db.append_updates(VENUE, CATALOG, [catalog_update()])
    await db.close()
    _as_schema_1(db_url)

    db = await open_console_db(db_url)
    try:
        assert await db.document_version(VENUE, CATALOG) == 0  # appended before versions
        assert await db.append_updates(VENUE, CATALOG, [catalog_update()]) == 1
        assert await db.load_document(VENUE, CATALOG) is not None
        assert await db.sightings(VENUE) == {}
    finally:
        await db.close()


# What schema version 10 was: no count of a venue's appends, no epoch but created_at_ms.
_SCHEMA_10 = ["ALTER TABLE venues DROP COLUMN taken", "ALTER TABLE venues DROP COLUMN epoch_ms"]
# What schema version 9 was: a venue known by its id alone, not by its venue CA.
_SCHEMA_9 = ["ALTER TABLE venues DROP COLUMN venue_ca"]
# What schema version 8 was: no table of the console nonces relays took (each process kept its own).
_SCHEMA_8 = ["DROP TABLE relay_nonces"]
# What schema version 7 was: payments and cash moves without a business-date index.
_SCHEMA_7 = ["DROP INDEX payments_by_business_date", "DROP INDEX cash_moves_by_business_date"]
# What schema version 6 was: where an order is now not kept (only where it was opened).
_SCHEMA_6 = [
    "ALTER TABLE orders DROP COLUMN current_table",
    "ALTER TABLE orders DROP COLUMN current_tab",
]
# What schema version 5 was: no record of who approved a refund, no "no sale" openings.
_SCHEMA_5 = [
    "ALTER TABLE refunds DROP COLUMN approved_by",
    "DROP TABLE no_sales",
    "ALTER TABLE orders DROP COLUMN void_detail",
]
# What schema version 4 was: no stock entries, no business-day indexes but receipts', no orders' detail.
_SCHEMA_4 = [
    "DROP TABLE stock_entries",
    *(f"DROP INDEX {table}_by_{column}" for table, column in REPORT_INDEXES),
    "ALTER TABLE orders DROP COLUMN line_detail",
    "ALTER TABLE orders DROP COLUMN order_discounts",
]
# What schema version 3 was: no audit of console writes.
_SCHEMA_3 = ["DROP TABLE audit"]
# What schema version 2 was: one snapshot row per document, no closed days, no unreported table.
_SCHEMA_2 = [
    "CREATE TABLE old_snapshots (venue_id TEXT NOT NULL, doc_name TEXT NOT NULL, data {b} NOT NULL, "
    "PRIMARY KEY (venue_id, doc_name))",
    "INSERT INTO old_snapshots SELECT venue_id, doc_name, data FROM snapshots",
    "DROP TABLE snapshots",
    "ALTER TABLE old_snapshots RENAME TO snapshots",
    "DROP TABLE closed_records",
    "DROP TABLE unreported",
    "ALTER TABLE documents DROP COLUMN closed",
    "ALTER TABLE documents DROP COLUMN state_vector",
    "ALTER TABLE documents DROP COLUMN deletions",
    "ALTER TABLE documents DROP COLUMN reports",
]
# and what version 1 was on top of that: no documents.version, no sightings
_SCHEMA_1 = ["ALTER TABLE documents DROP COLUMN version", "DROP TABLE sightings"]


def _as_schema(url: str, version: int, first: Sequence[str] = ()) -> None:
    """Turn a database of the current schema into one of an older ``version`` (1 to 10), after the
    statements ``first`` (what that version had written differently into rows)."""
    steps = [
        *first,
        *_SCHEMA_10,
        *(_SCHEMA_9 if version < 10 else []),
        *(_SCHEMA_8 if version < 9 else []),
        *(_SCHEMA_7 if version < 8 else []),
        *(_SCHEMA_6 if version < 7 else []),
        *(_SCHEMA_5 if version < 6 else []),
        *(_SCHEMA_4 if version < 5 else []),
        *(_SCHEMA_3 if version < 4 else []),
        *(_SCHEMA_2 if version < 3 else []),
        *(_SCHEMA_1 if version == 1 else []),
    ]
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        for statement in steps:
            conn.execute(statement.format(b="BLOB"))
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            for statement in steps:
                pg.execute(statement.format(b="BYTEA"))
            pg.execute("UPDATE schema_version SET version = %s", (version,))


def _as_schema_1(url: str) -> None:
    _as_schema(url, 1)


async def test_a_schema_2_database_is_migrated_and_keeps_its_snapshots(db_url: str) -> None:
    """Version 2 kept one snapshot row per document: it becomes the first segment."""
    db = await open_console_db(db_url, compact_rows=1)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    await db.append_updates(VENUE, CATALOG, [catalog_update()])  # compacted into the snapshot
    whole = await db.load_document(VENUE, CATALOG)
    await db.close()
    _as_schema(db_url, 2)

    db = await open_console_db(db_url)
    try:
        assert await db.log_rows(VENUE, CATALOG) == 0
        assert await db.load_document(VENUE, CATALOG) == whole
        assert await db.document_version(VENUE, CATALOG) == 1
        await db.compact(VENUE, CATALOG)  # segments work on the migrated table
        assert await db.load_document(VENUE, CATALOG) == whole
    finally:
        await db.close()


async def test_a_schema_3_database_is_migrated_and_gets_an_audit_log(db_url: str) -> None:
    """Version 3 had no audit log: it gets an empty one, and keeps its documents."""
    db = await open_console_db(db_url)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    await db.append_updates(VENUE, CATALOG, [catalog_update()])
    whole = await db.load_document(VENUE, CATALOG)
    await db.close()
    _as_schema(db_url, 3)

    db = await open_console_db(db_url)
    try:
        assert await db.load_document(VENUE, CATALOG) == whole
        assert await db.audit_log(VENUE, limit=10) == []
        entry = AuditEntry(1_000, "console", "product.put", "latte", {"after": {"price": 390}})
        await db.add_audit(VENUE, entry)
        [stored] = await db.audit_log(VENUE, limit=10)
        assert stored == dataclasses.replace(entry, seq=stored.seq)
        assert await db.audit_log(VENUE, limit=10, before_seq=stored.seq) == []
    finally:
        await db.close()


async def test_an_edit_through_a_process_that_missed_another_edit_keeps_that_edit(
    pg_url: str,
) -> None:
    """B has not heard A's rename (its listening is stopped here) when it changes the price, which
    writes the whole product back: B first catches up, so the product keeps A's name."""
    await _prepared(pg_url)
    async with AsyncExitStack() as stack:
        a = await (await _console(stack, pg_url)).hub(VENUE)
        server_b = await _console(stack, pg_url)
        b = await server_b.hub(VENUE)
        assert server_b._hearing is not None
        server_b._hearing.cancel()  # B hears nothing from now on

        def rename(v: Venue) -> None:
            v.catalog.put_product(dataclasses.replace(v.catalog.product(PRODUCT), name="Big one"))

        await a.edit(rename)
        assert b.venue.catalog.product(PRODUCT).name != "Big one"  # B is stale
        await _set_price(b, _price(b) + 5)
        product = b.venue.catalog.product(PRODUCT)
        assert product.name == "Big one"
        assert b.counters["caught_up"] == 1
        stored = await open_console_db(pg_url)
        try:
            whole = await stored.load_document(VENUE, CATALOG)
        finally:
            await stored.close()
        assert whole is not None
        check = Replica()
        check.apply(CATALOG, whole)  # and the database holds both edits
        assert Venue(check, device="console", role="console").catalog.product(PRODUCT) == product


async def test_an_older_sighting_never_replaces_a_newer_one(venue_db: ConsoleDB) -> None:
    """Two processes store what their relays said of R2: the later word stands, whichever
    process stores it last."""
    newer = Sighting("register", 2_000.0, "R1", 0, False, False)
    older = Sighting(None, 1_000.0, "R9", 7, True, True)
    await venue_db.record_sightings({VENUE: {"R2": newer}})
    await venue_db.record_sightings({VENUE: {"R2": older}})
    assert await venue_db.sightings(VENUE) == {"R2": newer}
    later = Sighting(None, 3_000.0, "R3", 1, False, True)  # a relay that does not say the role
    await venue_db.record_sightings({VENUE: {"R2": later}})
    assert await venue_db.sightings(VENUE) == {"R2": dataclasses.replace(later, role="register")}
