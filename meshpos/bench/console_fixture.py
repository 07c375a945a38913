"""``bench console``'s fixture: many venues with closed days in PostgreSQL, written in bulk.

Running 1,000 relays to fill a console would take hours; what the console holds after they did is
known, so it is written directly: the days are sold once through the model (``days`` days of
``receipts_per_day`` sales on one register), and every venue gets the same pre-encoded documents
(documents of different venues never meet) and the same report rows, bulk-loaded with ``COPY``. Each
day is stored as the console stores a closed day: one folded segment, its state vector and deletions,
``closed = 1``. The rows are built by the console's own code (``materialise.ledger_rows``,
``upsert.table_rows``), so they are what materialising the days would have written.

The relays' sales (today's open day) are pre-encoded too, one group of updates per sale.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from meshpos.console import hash_token, open_console_db
from meshpos.console.materialise import ledger_rows
from meshpos.console.records import RecordBatch
from meshpos.console.tables import RECORD_TABLES
from meshpos.console.upsert import child_columns, child_rows, columns, table_rows
from meshpos.harness.venue import catalog_update
from meshpos.model import CorruptRegistry, Ledger, Replica, Venue
from meshpos.model.documents import CATALOG, KITCHEN, LEDGER
from meshpos.model.sample import CASHIER

DEVICE = "R1"
PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")
DAY_MS = 86_400_000


def progress(text: str) -> None:
    print(f"bench console: {text}", file=sys.stderr, flush=True)


def venue_id(i: int) -> str:
    return f"venue-{i:05d}"


def venue_token(i: int) -> str:
    """Each venue's relay token (deterministic: the bench's relays present it)."""
    return f"bench-console-token-{i:05d}-".ljust(40, "x")


@dataclass(frozen=True, slots=True)
class ClosedDay:
    name: str
    update: bytes
    state_vector: bytes
    deletions: bytes
    rows: RecordBatch | None  # ledger days only


@dataclass(frozen=True, slots=True)
class Sales:
    """Pre-encoded sales of today's open day: per sale, (document, update) pairs."""

    date: str
    groups: list[list[tuple[str, bytes]]]


def _day_docs(replica: Replica) -> list[str]:
    return sorted(n for n in replica.names() if n.startswith((f"{LEDGER}/", f"{KITCHEN}/")))


def _sell(venue: Venue, i: int, at_ms: int) -> None:
    order = venue.open_order(CASHIER, at_ms)
    venue.add_line(CASHIER, order.id, PRODUCTS[i % len(PRODUCTS)], 1 + i % 3, at_ms)
    venue.pay(CASHIER, order.id, "card" if i % 2 else "cash", at_ms)


def closed_days(catalog: bytes, days: int, per_day: int, now_ms: int) -> list[ClosedDay]:
    """``days`` past days (ending two days ago) of ``per_day`` sales each, sold through the model."""
    replica = Replica(capture=False)
    replica.apply(CATALOG, catalog)
    venue = Venue(replica, device=DEVICE, role="register")
    for d in range(days):
        start = now_ms - (days + 1 - d) * DAY_MS
        venue.open_shift_now(CASHIER, 10_000, start)
        for i in range(per_day):
            _sell(venue, i, start + i * 1_000)
        venue.close_shift(CASHIER, 10_000, start + per_day * 1_000 + 1)
    out = []
    for name in _day_docs(replica):
        doc = replica.doc(name)
        rows = None
        if name.startswith(f"{LEDGER}/"):
            date = name.split("/", 1)[1]
            rows = ledger_rows(Ledger(doc, date, corrupt=CorruptRegistry()))
        state = doc.get_state()
        out.append(ClosedDay(name, doc.get_update(), state, doc.get_update(state), rows))
    return out


def open_day_sales(catalog: bytes, sales: int, now_ms: int, issued: int = 0) -> Sales:
    """``sales`` sales of today, each as the updates a register's sale produces; their receipt numbers
    continue after the ``issued`` receipts of the closed days (as the register's would: numbers that
    started again at 1 made every uploaded receipt a duplicate-number alarm the console wrote)."""
    replica = Replica()
    replica.apply(CATALOG, catalog)
    replica.take_updates()
    venue = Venue(replica, device=DEVICE, role="register", receipt_seq=issued)
    venue.open_shift_now(CASHIER, 10_000, now_ms)
    groups: list[list[tuple[str, bytes]]] = []
    pending: list[tuple[str, bytes]] = []
    for i in range(sales):
        _sell(venue, i, now_ms + i)
        pending += [(u.document, u.update) for u in replica.take_updates()]
        groups.append(pending)
        pending = []
    return Sales(venue.business_date(now_ms), groups)


async def create_schema(url: str) -> None:
    db = await open_console_db(url)
    await db.close()


def load_venues(url: str, venues: int, catalog: bytes, days: list[ClosedDay]) -> float:
    """Write ``venues`` venues holding ``catalog`` and the closed ``days``; returns seconds taken."""
    started = time.perf_counter()
    now = int(time.time() * 1000)
    with psycopg.connect(url) as conn, conn.cursor() as cur:

        def copy(table: str, cols: list[str], rows: Any) -> None:
            with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as out:
                for row in rows:
                    out.write_row(row)

        ids = [venue_id(i) for i in range(venues)]
        copy(
            "venues",
            ["id", "name", "token_hash", "created_at_ms"],
            ((v, f"Bench venue {i}", hash_token(venue_token(i)), now) for i, v in enumerate(ids)),
        )
        doc_cols = ["venue_id", "name", "log_rows", "updated_at_ms", "version", "closed"]
        copy(
            "documents",
            [*doc_cols, "state_vector", "deletions"],
            (
                row
                for v in ids
                for row in [
                    (v, CATALOG, 0, now, 1, 0, None, None),
                    *((v, d.name, 0, now, 1, 1, d.state_vector, d.deletions) for d in days),
                ]
            ),
        )
        copy(
            "snapshots",
            ["venue_id", "doc_name", "data"],
            (
                row
                for v in ids
                for row in [(v, CATALOG, catalog), *((v, d.name, d.update) for d in days)]
            ),
        )
        progress(f"fixture: {venues:,} venues, documents written; report rows next")
        for table in RECORD_TABLES:
            batches = [d.rows.rows.get(table.name, ()) for d in days if d.rows is not None]
            copy(
                table.name,
                columns(table),
                (row for v in ids for rows in batches for row in table_rows(table, v, rows, now)),
            )
            for child in table.children:
                copy(
                    child.name,
                    child_columns(child),
                    (row for v in ids for rows in batches for row in child_rows(child, v, rows)),
                )
        conn.commit()
    # so autovacuum has nothing left to do on 3 million fresh rows while the runs are measured (the
    # second run met it otherwise), and no first read writes hint bits
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (FREEZE, ANALYZE)")
    return time.perf_counter() - started


def shared_catalog() -> bytes:
    """One catalog for every venue and relay (catalog_update() has a new client id each call)."""
    return catalog_update()
