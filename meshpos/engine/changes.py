"""Change events pushed to whoever shows the node's data (the pages' event stream, tests, services).

The engine publishes one :class:`Changed` after each commit: the documents it changed, and whether the
mesh's presence changed (a peer came or went, the relay or the colour changed). A subscriber that is
slow never makes the engine wait or buffer without end: what it has not read yet is merged into one
pending :class:`Changed` (a union of document names), so it always learns everything that changed, at
most once per read, in memory bounded by the number of documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Changed:
    """What changed since the subscriber's last read. ``seq`` grows with every publication."""

    docs: frozenset[str]
    presence: bool
    local: bool  # at least one of the changes was this device's own write
    seq: int


class Subscription:
    """One reader of a :class:`ChangeFeed`; iterate it (``async for change in sub``), close it when done."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._docs: set[str] = set()
        self._presence = False
        self._local = False
        self._seq = 0
        self._ready = asyncio.Event()
        self.closed = False

    def _add(self, docs: Iterable[str], presence: bool, local: bool, seq: int) -> None:
        self._docs.update(docs)
        self._presence |= presence
        self._local |= local
        self._seq = seq
        self._ready.set()

    def pending(self) -> Changed | None:
        """What changed since the last read, without waiting (None: nothing)."""
        if not self._ready.is_set():
            return None
        change = Changed(frozenset(self._docs), self._presence, self._local, self._seq)
        self._docs, self._presence, self._local = set(), False, False
        self._ready.clear()
        return change

    async def next(self) -> Changed:
        """Wait for the next change (returns at once if one is pending)."""
        while not self.closed:
            await self._ready.wait()
            change = self.pending()
            if change is not None:
                return change
        raise StopAsyncIteration

    def __aiter__(self) -> AsyncIterator[Changed]:
        return self

    async def __anext__(self) -> Changed:
        return await self.next()

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._feed._subscribers.discard(self)


class ChangeFeed:
    """Fan-out of change events to any number of subscribers, none of which can hold the publisher up."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.seq = 0

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subscribers.add(sub)
        return sub

    def publish(
        self, docs: Iterable[str] = (), *, presence: bool = False, local: bool = False
    ) -> None:
        names = frozenset(docs)
        if not names and not presence:
            return
        self.seq += 1
        for sub in self._subscribers:
            sub._add(names, presence, local, self.seq)

    def close(self) -> None:
        for sub in list(self._subscribers):
            sub.close()
