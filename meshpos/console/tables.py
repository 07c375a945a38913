"""The console's relational schema, described once and rendered for SQLite and PostgreSQL.

Record tables are keyed by (venue_id, id) with the record's UUID from the ledger. Each row carries a
``digest`` of its insert-only columns (and child rows) and a ``state_digest`` of its mutable ones, so
materialising compares two short strings instead of every column, and a money record that comes back
with different content is detected, alarmed and never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4D50434E  # "MPCN": tells a console database from a node's store file


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # "text" | "int"
    nullable: bool = False


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


def _cols(spec: str, nullable: bool = False) -> tuple[Column, ...]:
    """``"name:text number:int"`` -> columns; keeps the table list below readable."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append(Column(name, kind or "text", nullable))
    return tuple(out)


RECEIPT_LINES = ChildTable(
    "receipt_lines",
    "receipt_id",
    _cols(
        "position:int line_id product_id name quantity:int unit_price:int discount:int tax:int "
        "amount:int"
    ),
)
REFUND_LINES = ChildTable(
    "refund_lines", "refund_id", _cols("position:int line_id quantity:int amount:int")
)

RECORD_TABLES: tuple[RecordTable, ...] = (
    RecordTable(
        "shifts",
        _cols("business_date register opened_by opened_at_ms:int opening_cash:int"),
        _cols(
            "closed_by closed_at_ms:int counted_cash:int expected_cash:int difference:int",
            nullable=True,
        ),
        indexes=("register",),
    ),
    RecordTable(
        "orders",
        _cols("business_date register shift_id opened_by opened_at_ms:int table_label tab"),
        _cols(
            "status line_count:int subtotal:int discount:int tax:int total:int paid:int tips:int "
            "receipt_ids"
        ),
        indexes=("shift_id",),
    ),
    RecordTable(
        "payments",
        _cols(
            "business_date order_id method amount:int tip:int tendered:int change_given:int "
            "shift_id register user_id at_ms:int"
        ),
        indexes=("order_id", "shift_id"),
    ),
    RecordTable(
        "receipts",
        _cols(
            "business_date number register seq:int user_id order_id shift_id issued_at_ms:int "
            "subtotal:int discount:int tax:int total:int payment_ids"
        ),
        children=(RECEIPT_LINES,),
        indexes=("business_date", "shift_id", "order_id", "number"),  # number: duplicate alarm
    ),
    RecordTable(
        "refunds",
        _cols(
            "business_date receipt_id amount:int method shift_id register user_id at_ms:int reason"
        ),
        children=(REFUND_LINES,),
        indexes=("receipt_id", "shift_id"),
    ),
    RecordTable(
        "cash_moves",
        _cols("business_date shift_id kind amount:int reason user_id at_ms:int"),
        indexes=("shift_id",),
    ),
    RecordTable(
        "inventory_moves",
        _cols("business_date product_id kind quantity:int ref user_id device at_ms:int"),
        indexes=("product_id",),
    ),
)
TABLES = {t.name: t for t in RECORD_TABLES}


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    int_type: str
    bytes_type: str
    serial_key: str


SQLITE = Dialect("sqlite", "INTEGER", "BLOB", "INTEGER PRIMARY KEY")
POSTGRES = Dialect(
    "postgresql", "BIGINT", "BYTEA", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
)


def _column_ddl(col: Column, d: Dialect) -> str:
    kind = d.int_type if col.type == "int" else "TEXT"
    return f"{col.name} {kind}" + ("" if col.nullable else " NOT NULL")


def ddl(d: Dialect) -> list[str]:
    """Every CREATE statement of schema version 1, in order."""
    i, b = d.int_type, d.bytes_type
    out = [
        f"""CREATE TABLE venues (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at_ms {i} NOT NULL
        )""",
        f"""CREATE TABLE documents (
            venue_id TEXT NOT NULL REFERENCES venues(id),
            name TEXT NOT NULL,
            log_rows {i} NOT NULL DEFAULT 0,
            updated_at_ms {i} NOT NULL,
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
        f"""CREATE TABLE snapshots (
            venue_id TEXT NOT NULL,
            doc_name TEXT NOT NULL,
            data {b} NOT NULL,
            PRIMARY KEY (venue_id, doc_name),
            FOREIGN KEY (venue_id, doc_name) REFERENCES documents(venue_id, name)
        )""",
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
    ]
    for t in RECORD_TABLES:
        cols = [_column_ddl(c, d) for c in (*t.fixed, *t.mutable)]
        out.append(
            f"CREATE TABLE {t.name} (venue_id TEXT NOT NULL REFERENCES venues(id), "
            f"id TEXT NOT NULL, {', '.join(cols)}, digest TEXT NOT NULL, "
            f"state_digest TEXT NOT NULL, seen_at_ms {i} NOT NULL, PRIMARY KEY (venue_id, id))"
        )
        out += [f"CREATE INDEX {t.name}_by_{col} ON {t.name}(venue_id, {col})" for col in t.indexes]
        for c in t.children:
            cols = [_column_ddl(col, d) for col in c.columns]
            out.append(
                f"CREATE TABLE {c.name} (venue_id TEXT NOT NULL, {c.parent_key} TEXT NOT NULL, "
                f"{', '.join(cols)}, PRIMARY KEY (venue_id, {c.parent_key}, position), "
                f"FOREIGN KEY (venue_id, {c.parent_key}) REFERENCES {t.name}(venue_id, id))"
            )
    return out
