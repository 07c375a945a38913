"""Where the engine keeps its documents: a small port, and the node's adapter for it.

The engine needs three things of a store: commit a batch of updates (with a few meta values) in one
durable step, load the documents it opens at start, and forget a document (clear cache). The node keeps
them in its SQLite file (:class:`StoreDocuments` over a :class:`~meshpos.store.Store`); a venue at the
console keeps them in the console database (``meshpos.console.hub.VenueDocuments``). See
docs/architecture.md (Engine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from meshpos.store import Store


class DocumentStore(Protocol):
    """The engine's storage port. Every update handed to ``append`` is a document's own change event,
    encoded by pycrdt: an adapter need not parse it again."""

    async def append(
        self, updates: Sequence[tuple[str, bytes]], meta: Mapping[str, str] | None
    ) -> None:
        """Commit (document, update) pairs and ``meta``; durable on return."""

    async def load(self) -> dict[str, bytes]:
        """Every document to open at start, as one update each (closed business days stay out)."""

    async def drop(self, name: str) -> None:
        """Forget a document entirely (it is pulled again from the peers)."""


class StoreDocuments:
    """The node's documents in its :class:`~meshpos.store.Store` (one transaction per append)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def append(
        self, updates: Sequence[tuple[str, bytes]], meta: Mapping[str, str] | None
    ) -> None:
        await self.store.append(updates, meta=meta or None, validated=True)

    async def load(self) -> dict[str, bytes]:
        loaded: dict[str, bytes] = {}
        for info in await self.store.documents():  # open ones only: a node never loads closed days
            update = await self.store.load(info.name)
            if update is not None:
                loaded[info.name] = update
        return loaded

    async def drop(self, name: str) -> None:
        await self.store.drop(name)
