"""An in-memory store with SqliteStore's contract, for sans-I/O tests of the model and sync.

It follows the same rules (append-only log, threshold compaction, closed flag, meta in the same
"commit"), so a test that passes here exercises what the SQLite store promises, minus durability.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from meshpos.errors import StoreClosed, StoreError
from meshpos.store.base import (
    DocumentInfo,
    StoreStats,
    check_closing,
    check_meta,
    check_name,
    check_updates,
    merge,
    summarize,
)


@dataclasses.dataclass(slots=True)
class _Doc:
    closed: bool = False
    summary: tuple[bytes, bytes] | None = None  # (state vector, deletions) kept by close_day
    signed: bool = False  # closed on the console's signed word (``confirm_closed``)
    snapshot: bytes | None = None
    log: list[bytes] = dataclasses.field(default_factory=list)
    log_bytes: int = 0


class MemoryStore:
    """Keeps everything in dicts; ``close`` only forbids further use."""

    def __init__(self, *, compact_rows: int = 1000, compact_bytes: int = 4 << 20) -> None:
        self.compact_rows = compact_rows
        self.compact_bytes = compact_bytes
        self.stats = StoreStats()
        self._docs: dict[str, _Doc] = {}
        self._meta: dict[str, str] = {}
        self._closed_keys: dict[str, str] = {}  # record key -> the closed document holding it
        self._dropped: dict[str, tuple[bytes, bytes]] = {}  # dropped day -> its summary
        self._closed = False
        self._unsynced = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the memory store is closed")

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None = None,
        *,
        validated: bool = False,
        fsync: bool = True,
    ) -> None:
        self._check_open()
        rows = check_updates(updates, validated=validated)
        values = check_meta(meta)
        if not rows and not values:
            return
        for name, data in rows:
            doc = self._docs.setdefault(name, _Doc())
            doc.log.append(data)
            doc.log_bytes += len(data)
        self._meta.update(values)
        self._unsynced = not fsync  # (counted as SqliteStore does: nothing here is on a disk)
        self.stats.unsynced_transactions += not fsync
        self.stats.transactions += 1
        self.stats.appends += 1
        self.stats.updates += len(rows)
        for name in {name for name, _ in rows}:
            doc = self._docs[name]
            if len(doc.log) >= self.compact_rows or doc.log_bytes >= self.compact_bytes:
                self._compact(doc)

    async def load(self, name: str) -> bytes | None:
        self._check_open()
        doc = self._docs.get(name)
        if doc is None:
            return None
        self.stats.documents_loaded += 1
        return merge(self._parts(doc))

    @staticmethod
    def _parts(doc: _Doc) -> list[bytes]:
        return ([doc.snapshot] if doc.snapshot is not None else []) + doc.log

    async def documents(self, *, include_closed: bool = False) -> list[DocumentInfo]:
        self._check_open()
        return [
            DocumentInfo(name, doc.closed, len(doc.log), len(doc.snapshot or b""))
            for name, doc in sorted(self._docs.items())
            if include_closed or not doc.closed
        ]

    async def set_closed(self, name: str, closed: bool) -> None:
        self._check_open()
        check_name(name)
        doc = self._docs.setdefault(name, _Doc())
        doc.closed = closed
        doc.summary = None
        doc.signed = False
        self.stats.transactions += 1

    async def close_day(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str] = ()
    ) -> None:
        self._check_open()
        checked = check_closing(name, state_vector, deletions, keys)
        doc = self._docs.setdefault(name, _Doc())
        doc.closed = True
        doc.summary = (state_vector, deletions)
        doc.signed = False
        self._closed_keys.update(dict.fromkeys(checked, name))
        self.stats.transactions += 1

    async def closed_days(self) -> dict[str, tuple[bytes, bytes]]:
        self._check_open()
        closed: dict[str, tuple[bytes, bytes]] = {}
        for name, doc in sorted(self._docs.items()):
            if doc.closed:
                if doc.summary is None:  # closed by the flag alone: summarised once
                    doc.summary = summarize(merge(self._parts(doc)))
                closed[name] = doc.summary
        return closed

    async def drop_day(self, name: str) -> None:
        self._check_open()
        check_name(name)
        doc = self._docs.get(name)
        if doc is None or not doc.closed or doc.summary is None:
            raise StoreError(f"cannot drop {name!r}: it is not a closed, summarised day")
        if not doc.signed:
            raise StoreError(f"cannot drop {name!r}: it closed on the console's unsigned word")
        self._dropped[name] = doc.summary
        await self.drop(name)

    async def dropped_days(self) -> dict[str, tuple[bytes, bytes]]:
        self._check_open()
        return dict(sorted(self._dropped.items()))

    async def confirm_closed(self, name: str) -> None:
        self._check_open()
        check_name(name)
        doc = self._docs.get(name)
        if doc is not None and doc.closed:
            doc.signed = True
            self.stats.transactions += 1

    async def signed_closed_days(self) -> frozenset[str]:
        self._check_open()
        return frozenset(name for name, doc in self._docs.items() if doc.closed and doc.signed)

    async def find_closed(self, key: str) -> str | None:
        self._check_open()
        return self._closed_keys.get(key)

    async def get_meta(self, key: str) -> str | None:
        self._check_open()
        return self._meta.get(key)

    async def meta_range(self, low: str, high: str) -> dict[str, str]:
        self._check_open()
        return {k: v for k, v in self._meta.items() if low <= k < high}

    async def drop_meta_range(self, low: str, high: str) -> None:
        self._check_open()
        for key in [k for k in self._meta if low <= k < high]:
            del self._meta[key]

    async def compact(self, name: str) -> None:
        self._check_open()
        doc = self._docs.get(name)
        if doc is not None and doc.log:
            self._compact(doc)

    async def sync(self) -> None:
        self._check_open()
        if self._unsynced:
            self._unsynced = False
            self.stats.syncs += 1

    async def idle(self) -> None:
        """Nothing runs in the background here: appends and compactions finish before they return."""
        self._check_open()

    def _compact(self, doc: _Doc) -> None:
        doc.snapshot = merge(self._parts(doc))
        doc.log = []
        doc.log_bytes = 0
        self.stats.compactions += 1
        self.stats.transactions += 1

    async def drop(self, name: str) -> None:
        self._check_open()
        if self._docs.pop(name, None) is not None:
            self._closed_keys = {k: d for k, d in self._closed_keys.items() if d != name}
            self.stats.transactions += 1

    async def close(self) -> None:
        self._closed = True
