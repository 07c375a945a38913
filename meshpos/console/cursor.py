"""The few database calls the console's shared SQL needs, over aiosqlite or psycopg.

Its own module so that the statements (``sqlbase``, ``upsert``, ``reports``) and the adapters all depend on
it and not on each other: ``sqlbase`` runs ``upsert`` and ``reports``, which only need a cursor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    """The few calls the shared statements need, over aiosqlite or psycopg."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return its row count."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert new rows (a duplicate key fails the transaction): ``COPY`` on PostgreSQL."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def fetch_in(
        self, sql: str, params: Sequence[Any], values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """``sql`` ends with ``column {in}``, meaning "column is one of ``values``" (bound after
        ``params``): IN lists in chunks on SQLite, one array on PostgreSQL."""


def now_ms() -> int:
    """The time a row is stamped with (created, seen), in epoch milliseconds."""
    return time.time_ns() // 1_000_000
