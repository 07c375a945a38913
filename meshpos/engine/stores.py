"""Where the engine keeps its documents: a small port, and the node's adapter for it.

The engine needs of a store: commit a batch of updates (with a few meta values) in one durable step,
load the documents it opens at start, forget a document (clear cache), and close and reopen business
days (a closed day is not loaded: the store keeps its state vector and deletions, which the synchronizer
answers for it from, and the receipts it holds, to find the day again). The node keeps
them in its SQLite file (:class:`StoreDocuments` over a :class:`~meshpos.store.Store`); a venue at the
console keeps them in the console database (``meshpos.console.hub.VenueDocuments``). See
docs/architecture.md (Engine).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from meshpos.errors import CorruptDatabase
from meshpos.model.documents import valid_document_name
from meshpos.store import Store

log = logging.getLogger("meshpos.engine")
T = TypeVar("T")


class DocumentStore(Protocol):
    """The engine's storage port. Every update handed to ``append`` is a document's own change event,
    encoded by pycrdt: an adapter need not parse it again."""

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,
    ) -> None:
        """Commit (document, update) pairs and ``meta``; durable on return. **Changed** (issue 18,
        durable): ``fsync=False`` (only taps that may wait): durable to a crash of the process,
        not to a power cut, until the next append with ``fsync`` or :meth:`sync`."""

    async def sync(self) -> None:
        """Every append before this call survives a power cut on return."""

    async def load(self) -> dict[str, bytes]:
        """Every document to open at start, as one update each (closed business days stay out)."""

    async def drop(self, name: str) -> None:
        """Forget a document entirely (it is pulled again from the peers)."""

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        """Mark ``name`` closed with its summary, and index ``keys`` to it, in one durable step
        after every append before it."""

    async def closed(self) -> dict[str, tuple[bytes, bytes]]:
        """Every closed document -> (state vector, deletions), none of them loaded."""

    async def find_closed(self, key: str) -> str | None:
        """The closed document a record key was indexed under at its close, or None."""

    async def reopen(self, name: str) -> bytes | None:
        """Mark ``name`` open again (loaded at start) and return its one update."""


@runtime_checkable
class DayDropping(Protocol):
    """A store that lets go of closed days (a register's; the console keeps every day): see
    ``meshpos.register.retention``."""

    async def drop_day(self, name: str) -> None:
        """Forget the closed ``name``'s content and record keys, keep its summary: one durable step."""

    async def dropped(self) -> dict[str, tuple[bytes, bytes]]:
        """Every dropped document -> (state vector, deletions)."""

    async def confirm(self, name: str) -> None:
        """Record that the closed ``name`` closed on the console's signed word (or was covered by
        it since): only such a day may be dropped. A close or reopening clears it: one durable step."""

    async def signed_closed(self) -> frozenset[str]:
        """The closed documents :meth:`confirm` recorded."""

    async def drop_meta_range(self, low: str, high: str) -> None:
        """Forget the meta entries with ``low <= key < high``: what was kept of a dropped day
        (**changed**, shifts, the twenty-first session: its closed shifts' parts,
        ``register/retention.py``)."""


class StoreDocuments:
    """The node's documents in its :class:`~meshpos.store.Store` (one transaction per append)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,
    ) -> None:
        await self.store.append(updates, meta=meta or None, validated=True, fsync=fsync)

    async def sync(self) -> None:
        await self.store.sync()

    async def load(self) -> dict[str, bytes]:
        loaded: dict[str, bytes] = {}
        for info in await self.store.documents():  # open ones only: a node never loads closed days
            with stored_document(info.name):  # (its pieces are merged: a damaged one fails here)
                update = await self.store.load(info.name)
            if update is not None:
                loaded[info.name] = update
        return loaded

    async def drop(self, name: str) -> None:
        await self.store.drop(name)

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        await self.store.close_day(name, state_vector, deletions, keys)

    async def closed(self) -> dict[str, tuple[bytes, bytes]]:
        return await self.store.closed_days()

    async def find_closed(self, key: str) -> str | None:
        return await self.store.find_closed(key)

    async def reopen(self, name: str) -> bytes | None:
        await self.store.set_closed(name, False)
        return await self.store.load(name)

    async def drop_day(self, name: str) -> None:
        await self.store.drop_day(name)

    async def dropped(self) -> dict[str, tuple[bytes, bytes]]:
        return await self.store.dropped_days()

    async def confirm(self, name: str) -> None:
        await self.store.confirm_closed(name)

    async def signed_closed(self) -> frozenset[str]:
        return await self.store.signed_closed_days()

    async def drop_meta_range(self, low: str, high: str) -> None:
        await self.store.drop_meta_range(low, high)


def known_documents(stored: Mapping[str, T]) -> list[tuple[str, T]]:
    """The stored documents whose names this release takes. A name it refuses (a day the calendar
    does not have, ``ledger/2026-02-31``, which an older release took from a peer) stays in the file,
    is not loaded, and is named once in the log: refusing to start would leave the register unable to
    sell over a document no one can have sold on."""
    known = []
    for name, value in stored.items():
        if valid_document_name(name):
            known.append((name, value))
        else:
            log.warning(
                "the store holds document %r, which is not a meshpos document name (an older "
                "release took it from a peer): left in the file, not loaded",
                name[:80],
            )
    return known


_GOING_ON = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


class stored_document:  # (lower case: used as a function)
    """Reading ``name`` from the store: an update stored for it that pycrdt cannot decode (a bad sector
    in a blob the database itself reads whole) is :class:`~meshpos.errors.CorruptDatabase` naming the
    document, not a bare ``ValueError`` (or a pyo3 panic, a ``BaseException``) from deep inside pycrdt:
    the node must not start without what it acknowledged, and its owner needs to know which file and
    what to do (``meshpos.node`` adds the file and the way out)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, _GOING_ON):
            return
        if isinstance(exc, Exception) and not isinstance(exc, ValueError):
            return  # the store's own errors (and SQLite's) say what they are
        raise CorruptDatabase(
            f"its document {self.name!r} holds an update that does not read "
            f"({type(exc).__name__}: {exc})"
        ) from exc
