"""The storage contract every node relies on, and the small value types it returns.

A store keeps, per document, whatever Yjs updates it was given, so that loading returns one update
that rebuilds the same document. It never interprets the updates beyond checking that they parse:
merging is done by pycrdt, so the store works for any document shape the model invents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pycrdt

from meshpos.errors import StoreError

EMPTY_UPDATE = b"\x00\x00"
"""A Yjs v1 update with no structs and no deletions: what ``Doc().get_update()`` returns."""


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What the store knows about one document without reading its updates."""

    name: str
    closed: bool
    log_rows: int
    snapshot_bytes: int


@dataclasses.dataclass(slots=True)
class StoreStats:
    """Counters for tests and benchmarks: they prove batching and lazy loading, not assume them."""

    transactions: int = 0
    """Committed write transactions (appends, compactions, flag changes, drops)."""
    failed_transactions: int = 0
    appends: int = 0
    """Committed ``append`` calls; ``appends / transactions`` is the group-commit batch size."""
    updates: int = 0
    compactions: int = 0
    helper_merges: int = 0
    """Compaction merges done in the helper process (store.merger), off the event loop's GIL."""
    documents_loaded: int = 0
    """Documents whose updates were read by ``load``; start-up must not read closed days."""
    unsynced_transactions: int = 0
    """Committed without an fsync (``append(fsync=False)`` alone in its transaction: SQLite's
    ``synchronous=NORMAL``); every other transaction is fsync'd (``synchronous=FULL``)."""
    syncs: int = 0
    """Fsyncs by :meth:`Store.sync` of commits no later transaction had fsync'd."""


@runtime_checkable
class Store(Protocol):
    """Durable per-document update logs (automerge-repo's storage adapter, specialised to Yjs)."""

    stats: StoreStats

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None = None,
        *,
        validated: bool = False,
        fsync: bool = True,
    ) -> None:
        """Commit (document, update) pairs and ``meta`` in one transaction; durable on return.

        Each update is parsed first, unless ``validated``: the caller vouches that pycrdt encoded it (a
        document's change event), so a 10 MB catch-up is not parsed a third time. **Changed** (issue
        18, durable): ``fsync=False`` (a tap that may wait) commits without an fsync: it survives a
        crash of the process (kill -9), not a power cut or an OS crash, until the next fsync'd
        commit (an fsync covers every commit before it) or :meth:`sync`. Appends committed together
        (group commit) are fsync'd if any of them asks for it."""

    async def sync(self) -> None:
        """Make every commit before this call survive a power cut (nothing to do when the last
        transaction was fsync'd); queued after every write before it."""

    async def load(self, name: str) -> bytes | None:
        """Return one update that rebuilds the document, or ``None`` if the store never saw it."""

    async def documents(self, *, include_closed: bool = False) -> list[DocumentInfo]:
        """List documents, open ones only unless asked: a node loads exactly these at start-up."""

    async def set_closed(self, name: str, closed: bool) -> None:
        """Mark a business day closed (not loaded at start-up) or open again (which forgets the
        state vector and deletions ``close_day`` kept: an open day is summarised by its content)."""

    async def close_day(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str] = ()
    ) -> None:
        """In one transaction, after every append queued before it: mark ``name`` closed, keep its
        state vector and delete set (what the synchronizer answers for it while it is unloaded), and
        index ``keys`` (receipt ids and numbers) to it for :meth:`find_closed`."""

    async def closed_days(self) -> dict[str, tuple[bytes, bytes]]:
        """Every closed document -> (state vector, deletions), read without loading any of them
        (a day closed by the flag alone is summarised from its content once)."""

    async def find_closed(self, key: str) -> str | None:
        """The document ``close_day`` indexed ``key`` under (it may have been reopened since: the
        caller opens it either way), or None."""

    async def drop_day(self, name: str) -> None:
        """In one transaction: forget the closed day ``name``'s content and record keys, keep only
        its summary (:meth:`dropped_days`); a day not closed, or closed on unsigned word (not
        :meth:`confirm_closed`), is refused and nothing changes."""

    async def dropped_days(self) -> dict[str, tuple[bytes, bytes]]:
        """Every dropped document -> (state vector, deletions) it had when it was dropped."""

    async def confirm_closed(self, name: str) -> None:
        """Mark the closed ``name`` as closed on the console's signed word (that it holds all of it),
        which :meth:`drop_day` requires; a ``close_day`` or reopening clears the mark (a close is
        unsigned until confirmed). Nothing happens if ``name`` is not closed."""

    async def signed_closed_days(self) -> frozenset[str]:
        """The closed documents :meth:`confirm_closed` marked (and not closed or opened since)."""

    async def get_meta(self, key: str) -> str | None:
        """Read a value written by ``append(meta=...)``."""

    async def meta_range(self, low: str, high: str) -> dict[str, str]:
        """The meta entries with ``low <= key < high`` (the web API's idempotency keys)."""

    async def drop_meta_range(self, low: str, high: str) -> None:
        """Forget the meta entries with ``low <= key < high`` (expired idempotency keys)."""

    async def compact(self, name: str) -> None:
        """Merge the document's log into its snapshot now (normally triggered by thresholds)."""

    async def idle(self) -> None:
        """Wait until every queued write is committed and no compaction is under way."""

    async def drop(self, name: str) -> None:
        """Forget a document entirely."""

    async def close(self) -> None:
        """Finish pending writes and release the store; later calls raise ``StoreClosed``."""


def check_updates(
    updates: Sequence[tuple[str, bytes]], *, validated: bool = False
) -> list[tuple[str, bytes]]:
    """Reject malformed input before it is queued: one bad row would make a whole day unloadable.
    ``validated`` skips parsing the updates (names and types are still checked)."""
    checked: list[tuple[str, bytes]] = []
    for name, update in updates:
        check_name(name)
        if not isinstance(update, bytes | bytearray | memoryview):
            raise StoreError(
                f"update for document {name!r} must be bytes, not {type(update).__name__}"
            )
        data = bytes(update)
        if validated:
            checked.append((name, data))
            continue
        try:
            pycrdt.merge_updates(data)
        except ValueError:
            raise StoreError(
                f"update for document {name!r} is not a valid Yjs update ({len(data)} bytes); "
                "nothing was written"
            ) from None
        checked.append((name, data))
    return checked


def summarize(update: bytes) -> tuple[bytes, bytes]:
    """A document's (state vector, delete set as an update with no structs), as the synchronizer
    keeps them for a closed day (``doc.get_update(doc.get_state())``)."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    state = doc.get_state()
    return state, doc.get_update(state)


def check_closing(
    name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
) -> list[str]:
    """The checked arguments of ``close_day``: the blobs must be bytes, the keys strings."""
    check_name(name)
    for what, value in (("state vector", state_vector), ("deletions", deletions)):
        if not isinstance(value, bytes):
            raise StoreError(
                f"closing {name!r}: the {what} must be bytes, not {type(value).__name__}"
            )
    checked = list(keys)
    for key in checked:
        if not isinstance(key, str) or not key:
            raise StoreError(f"closing {name!r}: record key {key!r} is not a non-empty string")
    return checked


def check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise StoreError(f"document name must be a non-empty string, not {name!r}")


def check_meta(meta: Mapping[str, str] | None) -> dict[str, str]:
    if not meta:
        return {}
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise StoreError(f"meta entries must be str -> str, got {key!r}: {value!r}")
    return dict(meta)


def fold(segments: Sequence[bytes], log: Sequence[bytes], *, full: bool) -> tuple[int, bytes]:
    """Merge the log into a new snapshot segment; return (trailing segments absorbed, new segment).

    Merging costs time proportional to everything merged, so re-merging a whole busy day on every
    compaction would grow quadratically and stall the writer. Segments are kept in geometrically
    growing sizes instead (an LSM-style binary counter): a segment is absorbed only when it is at
    most twice the size of what is being built, so each byte is re-merged about log2(n) times and a
    document has only a handful of segments. ``full`` merges everything into one segment.
    """
    merged = merge(log)
    absorbed = 0
    for segment in reversed(segments):
        if not full and len(segment) > 2 * len(merged):
            break
        absorbed += 1
        merged = merge([segment, merged])
    return absorbed, merged


def merge(parts: Sequence[bytes]) -> bytes:
    """Merge stored pieces into one update; keeps pieces whose predecessors are missing."""
    if not parts:
        return EMPTY_UPDATE
    if len(parts) == 1:
        return parts[0]
    return bytes(pycrdt.merge_updates(*parts))
