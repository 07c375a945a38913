"""The console's relational schema, rendered for SQLite and PostgreSQL from the record specs.

Each record table is the one its spec in ``meshpos.model.records`` declares (columns, children, indexes):
a new money record adds its spec there and gets its table here.

Record tables are keyed by (venue_id, id) with the record's UUID from the ledger. Each row carries a
``digest`` of its insert-only columns (and child rows) and a ``state_digest`` of its mutable ones, so
materialising compares two short strings instead of every column, and a money record that comes back
with different content is detected, alarmed and never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpos.model.record_spec import Column, RecordSpec
from meshpos.model.records import LEDGER_RECORDS

SCHEMA_VERSION = 11  # docs/architecture.md (Relay and console)
# 2: documents.version, sightings. 3: snapshot segments (compaction is not quadratic), closed days
# (documents.closed, state_vector, deletions; closed_records), unreported. 4: audit (console writes).
# 5: reports (orders' line_detail and order_discounts, business-day indexes, stock_entries)
# 6: refunds.approved_by (a late column: stored rows keep their digests), no_sales, orders.void_detail
# 7: orders.current_table and current_tab (mutable: a move keeps the row's digest); discount approvers
# 8: payments and cash_moves by business_date (the all-time figures read the live days only)
# 9: relay_nonces (a relay's proof is taken once by every console process of the venue)
# 10: venues.venue_ca (which venue CA an id belongs to: two venues made with one id stay apart)
# 11: venues.taken and epoch_ms (a restored backup is noticed at start: console/epoch_marks.py)
APPLICATION_ID = 0x4D50434E  # "MPCN": tells a console database from a node's store file


@dataclass(frozen=True, slots=True)
class ChildTable:
    """Rows owned by one record (receipt lines): written with their parent, never on their own."""

    name: str
    parent_key: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class RecordTable:
    name: str
    fixed: tuple[Column, ...]
    """Insert-only columns: a different value later is an alarm, never an update."""
    mutable: tuple[Column, ...] = ()
    """Columns that change by design (order status, shift close): updated in place."""
    children: tuple[ChildTable, ...] = ()
    indexes: tuple[str, ...] = ()

    @property
    def insert_only(self) -> bool:
        return not self.mutable


BUSINESS_DATE = Column("business_date", "text")
POSITION = Column("position", "int")


def table_of(spec: RecordSpec[Any]) -> RecordTable:
    """A record's table as its spec declares it, with the business day first and children numbered."""
    return RecordTable(
        spec.table,
        (BUSINESS_DATE, *spec.fixed),
        spec.mutable,
        tuple(ChildTable(c.table, c.parent_key, (POSITION, *c.columns)) for c in spec.children),
        spec.indexes,
    )


RECORD_TABLES: tuple[RecordTable, ...] = tuple(table_of(spec) for spec in LEDGER_RECORDS)
TABLES = {t.name: t for t in RECORD_TABLES}


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    int_type: str
    bytes_type: str
    serial_key: str
    now_ms: str  # the database's own clock in Unix milliseconds (one clock for every process)


SQLITE = Dialect(
    "sqlite",
    "INTEGER",
    "BLOB",
    "INTEGER PRIMARY KEY",
    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
)
POSTGRES = Dialect(
    "postgresql",
    "BIGINT",
    "BYTEA",
    "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
)


def _column_ddl(col: Column, d: Dialect) -> str:
    kind = d.int_type if col.type == "int" else "TEXT"
    return f"{col.name} {kind}" + ("" if col.nullable else " NOT NULL")


def migrations(d: Dialect, version: int) -> list[str]:
    """The statements that bring a database of schema ``version`` to ``SCHEMA_VERSION``."""
    steps = {
        # 2: each append counts the document's version, so a console process that materialises an
        # older state than another one committed is refused (upsert.StaleWrite)
        # and what every process's relays say of each device, so every process shows the same status
        1: [
            f"ALTER TABLE documents ADD COLUMN version {d.int_type} NOT NULL DEFAULT 0",
            _sightings(d),
        ],
        # 3: a document's snapshot is a few segments of geometrically growing size (one row each),
        # so a compaction merges the new log with the small segments only; closed business days
        # (the engine's DocumentStore port); what each day could not materialise, for every process
        2: [
            _snapshots(d, "snapshots_segments"),
            "INSERT INTO snapshots_segments (venue_id, doc_name, data) "
            "SELECT venue_id, doc_name, data FROM snapshots",
            "DROP TABLE snapshots",
            "ALTER TABLE snapshots_segments RENAME TO snapshots",
            SNAPSHOTS_INDEX,
            "ALTER TABLE documents ADD COLUMN closed INTEGER NOT NULL DEFAULT 0",
            f"ALTER TABLE documents ADD COLUMN state_vector {d.bytes_type}",
            f"ALTER TABLE documents ADD COLUMN deletions {d.bytes_type}",
            "ALTER TABLE documents ADD COLUMN reports TEXT",
            _closed_records(),
            _unreported(d),
        ],
        # 4: who changed what at the console, and when (meshpos.console.audit)
        3: [_audit(d), AUDIT_INDEX],
        # 5: what the manager's reports read: an order's lines with modifiers and discounts, the
        # business-day indexes a date range reads through, supplies and write-offs entered at the
        # console (rows stored before keep NULL details until their day is materialised again)
        4: [
            "ALTER TABLE orders ADD COLUMN line_detail TEXT",
            "ALTER TABLE orders ADD COLUMN order_discounts TEXT",
            "UPDATE orders SET state_digest = ''",  # the next materialisation writes the detail
            *(_index(table, column) for table, column in REPORT_INDEXES),
            *_stock_entries(d),
        ],
        # 6: who approved a refund on the spot, NULL in the rows stored before (``Column.late``:
        # their digests stay, and the next materialisation of their day fills it in); the drawer's
        # "no sale" openings
        5: [
            "ALTER TABLE refunds ADD COLUMN approved_by TEXT",
            "ALTER TABLE orders ADD COLUMN void_detail TEXT",
            "UPDATE orders SET state_digest = ''",  # the next materialisation writes the detail
            *record_table_ddl(TABLES["no_sales"], d),
        ],
        # 7: where an order is now (``table_label``/``tab`` keep where it was opened: insert-only, in
        # the digest), and who approved each discount (in line_detail and order_discounts). All
        # mutable columns, out of the digest: no stored row raises an alarm, and the next
        # materialisation of a row's day fills them in
        6: [
            "ALTER TABLE orders ADD COLUMN current_table TEXT",
            "ALTER TABLE orders ADD COLUMN current_tab TEXT",
            "UPDATE orders SET state_digest = ''",
        ],
        # 8: the all-time figures read the days not closed through business-date indexes
        # (console.reports_history); payments and cash moves had none
        7: [_index("payments", "business_date"), _index("cash_moves", "business_date")],
        # 9: the console nonces relays' upgrades took, for every console process and across restarts
        8: _relay_nonces(d),
        # 10: the venue CA each venue id belongs to (``trust.ca_fingerprint``), learned at the next
        # start with its directory: two venues made with one id (each ran README's ``venue init``)
        # were one venue to the console, the second's data mixed into the first's
        9: ["ALTER TABLE venues ADD COLUMN venue_ca TEXT"],
        # 11: every append a venue's database took in, counted, and the epoch a console signed
        # when it found the database had gone backwards (NULL: created_at_ms, as before)
        10: [
            f"ALTER TABLE venues ADD COLUMN taken {d.int_type} NOT NULL DEFAULT 0",
            f"ALTER TABLE venues ADD COLUMN epoch_ms {d.int_type}",
        ],
    }
    return [statement for v in range(version, SCHEMA_VERSION) for statement in steps[v]]


REPORT_INDEXES = (
    ("orders", "business_date"),
    ("refunds", "business_date"),
    ("shifts", "business_date"),
    ("inventory_moves", "business_date"),
)
"""Indexes schema 4 added to the record specs (``meshpos.model.records``): a report of a date range
reads its days through them, never the venue's whole history."""

STOCK_KINDS = ("supply", "write_off")
"""What a person enters at the console's stock page (``stock_entries.kind``)."""


def _index(table: str, column: str) -> str:
    return f"CREATE INDEX {table}_by_{column} ON {table}(venue_id, {column})"


def _stock_entries(d: Dialect) -> list[str]:
    """Supplies and write-offs entered at the console; stock on hand adds them to the registers'
    inventory moves. ``at_ms``: when it was entered; ``business_date``: the venue's business day then,
    so a date range reads them as it reads the registers' records (by product, by day)."""
    return [
        f"""CREATE TABLE stock_entries (
            venue_id TEXT NOT NULL REFERENCES venues(id),
            id TEXT NOT NULL,
            product_id TEXT NOT NULL,
            quantity {d.int_type} NOT NULL,
            kind TEXT NOT NULL,
            note TEXT NOT NULL,
            who TEXT NOT NULL,
            at_ms {d.int_type} NOT NULL,
            business_date TEXT NOT NULL,
            PRIMARY KEY (venue_id, id)
        )""",
        "CREATE INDEX stock_entries_by_product "
        "ON stock_entries(venue_id, product_id, business_date)",
        "CREATE INDEX stock_entries_by_day ON stock_entries(venue_id, business_date)",
    ]


def _sightings(d: Dialect) -> str:
    """Each device of a venue as the relays' heartbeats last showed it, to any console process
    (``devices.Sighting``; ``heard_ms`` only ever moves forward)."""
    i = d.int_type
    return f"""CREATE TABLE sightings (
            venue_id TEXT NOT NULL REFERENCES venues(id),
            node TEXT NOT NULL,
            role TEXT,
            heard_ms {i} NOT NULL,
            via TEXT NOT NULL,
            pending {i},
            relay {i} NOT NULL,
            uplink {i} NOT NULL,
            PRIMARY KEY (venue_id, node)
        )"""


SNAPSHOTS_INDEX = "CREATE INDEX snapshots_by_doc ON snapshots(venue_id, doc_name, id)"


def _snapshots(d: Dialect, name: str = "snapshots") -> str:
    """Snapshot segments of a document, oldest (largest) first: ``meshpos.store.base.fold``."""
    return f"""CREATE TABLE {name} (
            id {d.serial_key},
            venue_id TEXT NOT NULL,
            doc_name TEXT NOT NULL,
            data {d.bytes_type} NOT NULL,
            FOREIGN KEY (venue_id, doc_name) REFERENCES documents(venue_id, name)
        )"""


def _closed_records() -> str:
    """Receipt ids and numbers of a venue's closed days -> the day's document (a refund of an old
    receipt finds the day to open)."""
    return """CREATE TABLE closed_records (
            venue_id TEXT NOT NULL,
            record_key TEXT NOT NULL,
            doc_name TEXT NOT NULL,
            PRIMARY KEY (venue_id, record_key),
            FOREIGN KEY (venue_id, doc_name) REFERENCES documents(venue_id, name)
        )"""


def _unreported(d: Dialect) -> str:
    """Per ledger day: records the console holds but could not materialise, and why (every console
    process shows the same, whether it has the venue loaded or not)."""
    return f"""CREATE TABLE unreported (
            venue_id TEXT NOT NULL REFERENCES venues(id),
            doc_name TEXT NOT NULL,
            records {d.int_type} NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (venue_id, doc_name)
        )"""


def _relay_nonces(d: Dialect) -> list[str]:
    """The console nonces that relays' upgrades took (trust/relay_proof.py), so that a proof seen on a
    ``ws://`` line is refused by every console process of the venue, a restarted one too: each
    process remembered only its own. The key refuses a second take; ``taken_ms`` is the database's
    clock (one for every process), by which rows expire (``sqlvenues.take_relay_nonce``)."""
    return [
        f"""CREATE TABLE relay_nonces (
            venue_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            taken_ms {d.int_type} NOT NULL,
            PRIMARY KEY (venue_id, nonce)
        )""",
        "CREATE INDEX relay_nonces_by_time ON relay_nonces(taken_ms)",
    ]


AUDIT_INDEX = "CREATE INDEX audit_by_time ON audit(venue_id, at_ms)"


def _audit(d: Dialect) -> str:
    """Every console write of a venue: ``detail`` is a JSON object (what changed, before and after)."""
    return f"""CREATE TABLE audit (
            id {d.serial_key},
            venue_id TEXT NOT NULL REFERENCES venues(id),
            at_ms {d.int_type} NOT NULL,
            who TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL
        )"""


def ddl(d: Dialect) -> list[str]:
    """Every CREATE statement of the current schema version, in order."""
    i, b = d.int_type, d.bytes_type
    out = [
        f"""CREATE TABLE venues (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at_ms {i} NOT NULL,
            venue_ca TEXT,
            taken {i} NOT NULL DEFAULT 0,
            epoch_ms {i}
        )""",
        f"""CREATE TABLE documents (
            venue_id TEXT NOT NULL REFERENCES venues(id),
            name TEXT NOT NULL,
            log_rows {i} NOT NULL DEFAULT 0,
            updated_at_ms {i} NOT NULL,
            version {i} NOT NULL DEFAULT 0,
            closed INTEGER NOT NULL DEFAULT 0,
            state_vector {b},
            deletions {b},
            reports TEXT,
            PRIMARY KEY (venue_id, name)
        )""",
        f"""CREATE TABLE updates (
            seq {d.serial_key},
            venue_id TEXT NOT NULL,
            doc_name TEXT NOT NULL,
            data {b} NOT NULL,
            FOREIGN KEY (venue_id, doc_name) REFERENCES documents(venue_id, name)
        )""",
        "CREATE INDEX updates_by_doc ON updates(venue_id, doc_name, seq)",
        _snapshots(d),
        SNAPSHOTS_INDEX,
        _closed_records(),
        _unreported(d),
        f"""CREATE TABLE alarms (
            venue_id TEXT NOT NULL REFERENCES venues(id),
            kind TEXT NOT NULL,
            table_name TEXT NOT NULL,
            record_id TEXT NOT NULL,
            old_digest TEXT NOT NULL,
            new_digest TEXT NOT NULL,
            document TEXT NOT NULL,
            detail TEXT NOT NULL,
            first_seen_ms {i} NOT NULL,
            PRIMARY KEY (venue_id, kind, table_name, record_id, new_digest)
        )""",
        _sightings(d),
        _audit(d),
        AUDIT_INDEX,
        *_relay_nonces(d),
    ]
    for t in RECORD_TABLES:
        out += record_table_ddl(t, d)
    return [*out, *_stock_entries(d)]


def record_table_ddl(t: RecordTable, d: Dialect) -> list[str]:
    """One record table with its indexes and child tables, as its spec declares it."""
    cols = [_column_ddl(c, d) for c in (*t.fixed, *t.mutable)]
    out = [
        f"CREATE TABLE {t.name} (venue_id TEXT NOT NULL REFERENCES venues(id), "
        f"id TEXT NOT NULL, {', '.join(cols)}, digest TEXT NOT NULL, "
        f"state_digest TEXT NOT NULL, seen_at_ms {d.int_type} NOT NULL, PRIMARY KEY (venue_id, id))"
    ]
    out += [_index(t.name, col) for col in t.indexes]
    for c in t.children:
        cols = [_column_ddl(col, d) for col in c.columns]
        out.append(
            f"CREATE TABLE {c.name} (venue_id TEXT NOT NULL, {c.parent_key} TEXT NOT NULL, "
            f"{', '.join(cols)}, PRIMARY KEY (venue_id, {c.parent_key}, position), "
            f"FOREIGN KEY (venue_id, {c.parent_key}) REFERENCES {t.name}(venue_id, id))"
        )
    return out
