"""The reference console's storage: CRDT state per venue, the venue registry, relational money records.

``open_console_db(url)`` gives a ``ConsoleDB`` on SQLite (default) or PostgreSQL (chains).
``materialise()`` turns a ``ledger/<date>`` document into receipts, payments, refunds, shifts, cash and
stock rows keyed by their UUIDs: repeating it changes nothing, and a money record that comes back with
different content is kept as first seen and raised as an alarm.
"""

from meshpos.console.db import DEFAULT_COMPACT_ROWS, ConsoleDB, open_console_db
from meshpos.console.materialise import ledger_rows, materialise, materialise_stored
from meshpos.console.records import (
    Alarm,
    LedgerConflict,
    MaterialiseResult,
    RecordBatch,
    Row,
    TableCounts,
)
from meshpos.console.tables import RECORD_TABLES, SCHEMA_VERSION
from meshpos.console.tokens import hash_token, new_venue_token

__all__ = [
    "DEFAULT_COMPACT_ROWS",
    "RECORD_TABLES",
    "SCHEMA_VERSION",
    "Alarm",
    "ConsoleDB",
    "LedgerConflict",
    "MaterialiseResult",
    "RecordBatch",
    "Row",
    "TableCounts",
    "hash_token",
    "ledger_rows",
    "materialise",
    "materialise_stored",
    "new_venue_token",
    "open_console_db",
]
