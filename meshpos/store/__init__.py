"""Durable storage of Yjs documents: one update log per document, compacted into a snapshot.

``SqliteStore`` is the real thing (WAL, ``synchronous=FULL`` unless an append says ``fsync=False``,
one writer task with group commit);
``MemoryStore`` is a fake with the same contract for sans-I/O tests.
"""

from meshpos.store.base import (
    EMPTY_UPDATE,
    DocumentInfo,
    Store,
    StoreStats,
)
from meshpos.store.memory import MemoryStore
from meshpos.store.schema import SCHEMA_VERSION
from meshpos.store.sqlite import SqliteStore

__all__ = [
    "EMPTY_UPDATE",
    "SCHEMA_VERSION",
    "DocumentInfo",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "StoreStats",
]
