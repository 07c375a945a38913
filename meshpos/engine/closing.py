"""Closing and opening business days on the engine: a closed day is in the store, not in memory.

See docs/architecture.md (Documents) and docs/architecture.md (Engine). The synchronizer answers for
a closed day from its state vector and deletions (``meshpos.sync._closed``); the replica refuses to
create it empty (:class:`~meshpos.errors.DayClosed`); the store keeps it with its summary and the record
keys that find it. When to close a day is a service's decision (``meshpos.register.days``); this is
the mechanism.

Peers make the node open closed days too (a late update, an ask for content only the day holds): the
synchronizer bounds how many at once, per device and how often (``SyncConfig.reopens``), and reports what it
did not keep (:class:`~meshpos.sync.ClosedDayDeferred`). That is counted here by cause
(``closed_day_deferred_<cause>``, in the status's counters, beside ``days_opened_for_peers``) and logged
once per device and cause, then as a count at most every ``DEFERRED_LOG_EVERY`` seconds: a peer controls
how many there are.

A mixin of :class:`~meshpos.engine.engine.Engine`, which owns the state named below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from meshpos.engine.memory import release_memory
from meshpos.engine.stores import DayDropping, DocumentStore
from meshpos.errors import DayDropped, LocalProtocolError, MeshposError
from meshpos.model import Replica
from meshpos.model.documents import day_of
from meshpos.sync import ClosedDayDeferred, Synchronizer

log = logging.getLogger("meshpos.engine")

#: a device's deferred messages for closed days: one line per device and cause, then a count this often
DEFERRED_LOG_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class DayClosed:
    """A business day's document was closed and unloaded: drop every reference to it (synchronously,
    so its memory can be returned)."""

    doc: str


@dataclass(frozen=True, slots=True)
class DayOpened:
    """A closed business day's document is loaded again (for a read, or content a peer sent)."""

    doc: str


class ClosingDays:
    """close_day / open_day and their events (a mixin of ``Engine``)."""

    store: DocumentStore
    replica: Replica
    sync: Synchronizer
    counters: Counter[str]
    closing: bool
    _committers: set[asyncio.Task[None]]
    _opening: dict[str, asyncio.Future[bool]]
    _changed_docs: set[str]
    _clock: Callable[[], float]
    _deferred: dict[tuple[str, str], tuple[float, int]]  # (device, cause) -> (logged at, since)

    if TYPE_CHECKING:

        async def pump(self) -> None: ...

        def _exclusive(self) -> contextlib.AbstractAsyncContextManager[None]: ...

        async def _commit(self) -> None: ...

        def _emit(self, event: DayClosed | DayOpened) -> None: ...

        def _flush(self) -> None: ...

        def _publish(self) -> None: ...

    @cached_property
    def signed_closed(self) -> set[str]:
        """The closed days whose close rested on the console's signed word (``close_day(signed=)``,
        or :meth:`confirm_closed` since): the only ones :meth:`drop_day` lets go of. Loaded from a
        dropping store at :meth:`open`; a day opened again leaves it (its next close says anew)."""
        return set()

    @cached_property
    def _closing_now(self) -> dict[str, asyncio.Future[None]]:
        """The days whose close is committing in the store (the synchronizer and the replica count
        them closed already): :meth:`find_closed` waits for them."""
        return {}

    async def close_day(self, name: str, keys: Iterable[str] = (), *, signed: bool = False) -> None:
        """Close and unload the business day ``name`` once everything it received is committed: the
        store keeps it (with ``keys``, its receipt ids and numbers, indexed for :meth:`find_closed`),
        the synchronizer answers for it from its state vector and deletions, listeners get
        :class:`DayClosed` (and drop their references), then the memory goes back to the OS.
        ``signed``: the rule that let it close rested on the console's signed word (the node was
        strict when it looked), recorded in a dropping store after the close (a crash in between
        leaves it unsigned: kept, never dropped on a word not proven)."""
        async with self._exclusive():
            if await self._close_day(name, keys) and signed:
                try:
                    await self._confirm(name)
                except MeshposError as exc:  # closed all the same: kept until confirmed
                    log.error("closed %s, but could not record its signed close: %s", name, exc)
        await asyncio.to_thread(release_memory)

    async def _close_day(self, name: str, keys: Iterable[str]) -> bool:
        """``close_day`` under the pump lock; True if this call closed it."""
        await self._commit()  # no await from here to close_doc: nothing lands in between
        if self.sync.is_closed(name):
            return False
        doc = self.sync.docs.get(name)
        state_vector, deletions = self.sync.close_doc(name)
        self.replica.close(name)
        # The store's close commits whole or not at all, even for a cancelled caller: memory
        # follows what it did, then the cancellation goes on.
        stored = asyncio.ensure_future(self.store.close(name, state_vector, deletions, keys))
        self._closing_now[name] = stored
        try:
            cancelled = await _settle(stored)
        finally:
            self._closing_now.pop(name, None)
        if stored.cancelled() or stored.exception() is not None:
            self.replica.reopen(name)  # not closed after all: back as it was
            self.sync.reopen(name, doc.get_update() if doc is not None else None)
            del doc
            error = None if stored.cancelled() else stored.exception()
            if cancelled or error is None:
                raise asyncio.CancelledError
            raise error
        del doc
        self.counters["days_closed"] += 1
        self._emit(DayClosed(name))
        self._changed_docs.add(name)
        self._flush()
        self._publish()
        if cancelled:
            raise asyncio.CancelledError
        return True

    async def confirm_closed(self, name: str) -> bool:
        """Record that the closed day ``name`` is covered by the console's signed word (a statement
        a strict node took said the console holds all of its summary: ``Synchronizer.held_closed``),
        so it may be dropped; False if it is not closed (opened meanwhile), dropped or confirmed."""
        async with self._exclusive():
            if not self.sync.is_closed(name) or self.sync.is_dropped(name):
                return False
            if name in self.signed_closed:
                return False
            await self._confirm(name)
            return True

    async def _confirm(self, name: str) -> None:
        if isinstance(self.store, DayDropping):
            await self.store.confirm(name)
        self.signed_closed.add(name)

    async def drop_day(self, name: str) -> None:
        """Let go of the closed business day ``name`` for good (``register/retention.py``): the
        store forgets its content and record keys in one transaction, keeping its summary, and the
        synchronizer answers for it from that without ever opening it (``sync/_dropped.py``)."""
        if not isinstance(self.store, DayDropping):
            raise LocalProtocolError(f"cannot drop {name!r}: this store keeps every day")
        async with self._exclusive():
            if not self.sync.is_closed(name) or self.sync.is_dropped(name):
                return  # opened meanwhile (a read, a peer): the rule looks at it again
            if name not in self.signed_closed:
                raise LocalProtocolError(
                    f"cannot drop {name!r}: it closed on the console's unsigned word"
                )
            await self.store.drop_day(name)
            self.signed_closed.discard(name)
            self.sync.mark_dropped(name)
            self.counters["days_dropped"] += 1
            self._changed_docs.add(name)
            self._publish()  # a page showing the day (and a wait on /api/events) learns it now

    async def open_day(self, name: str) -> bool:
        """Load the closed business day ``name`` from the store (True), or do nothing if it is open
        (False). Concurrent calls for one day share one load; a dropped day raises DayDropped."""
        if not self.sync.is_closed(name):
            return False
        if self.sync.is_dropped(name):
            raise DayDropped(name, day_of(name))
        opening = self._opening.get(name)
        if opening is None:
            opening = asyncio.ensure_future(self._open_day(name))
            self._opening[name] = opening
            opening.add_done_callback(lambda _: self._opening.pop(name, None))
        return await asyncio.shield(opening)

    async def _open_day(self, name: str) -> bool:
        async with self._exclusive():
            if not self.sync.is_closed(name):
                return False
            if self.sync.is_dropped(name):
                raise DayDropped(name, day_of(name))
            update = await self.store.reopen(name)
            self.signed_closed.discard(name)  # (its next close says anew: the store forgot it)
            self.replica.reopen(name)
            self.sync.reopen(name, update)  # what peers parked for it becomes changes: committed
            self.counters["days_opened"] += 1
            self._emit(DayOpened(name))
            self._changed_docs.add(name)
        await self.pump()
        return True

    def closed_days(self) -> frozenset[str]:
        return self.sync.closed_docs

    async def find_closed(self, key: str) -> str | None:
        """The closed day a receipt id or number was indexed under when it closed (or None).

        A close under way is waited for first (part flaky, the twenty-fourth session): its day is out
        of memory from the start of the close, its keys in the store only once it commits, and a read
        in between found the receipt nowhere (404 for a sale the register holds; a failed close puts
        the day back in memory, where the caller finds it)."""
        for closing in list(self._closing_now.values()):
            await asyncio.wait([closing])
        return await self.store.find_closed(key)

    def _reopen_wanted(self, name: str) -> None:
        """A peer sent content for a closed day (or asked for some): open it in the background."""
        if self.closing:
            return
        task = asyncio.ensure_future(self._open_logged(name))
        self._committers.add(task)
        task.add_done_callback(self._committers.discard)

    async def _open_logged(self, name: str) -> None:
        try:
            opened = await self.open_day(name)
        except MeshposError as exc:  # parked messages stay parked; the next one asks again
            log.error("cannot open closed %s for a peer (%s)", name, exc)
            self.sync.reopen_failed(name)
            return
        if opened:  # (bounded by the reopen budget: a peer cannot make this line often)
            self.counters["days_opened_for_peers"] += 1
            device = self.sync.opened_for_peers.get(name, "a peer")
            log.info("opened closed %s for %s", name, device)

    def _closed_day_deferred(self, event: ClosedDayDeferred) -> None:
        """Count a message for a closed day the synchronizer did not keep; log it rate-limited."""
        self.counters[f"closed_day_deferred_{event.cause}"] += event.count
        key = (event.node, event.cause)
        now = self._clock()
        seen = self._deferred.get(key)
        if seen is None:
            log.warning(
                "not opening closed %s for %s now: %s (anti-entropy brings it again; "
                "more like it from %s are counted: closed_day_deferred_%s)",
                event.doc,
                event.node,
                event.reason,
                event.node,
                event.cause,
            )
            self._deferred[key] = (now, 0)
            return
        logged_at, since = seen[0], seen[1] + event.count
        if now - logged_at >= DEFERRED_LOG_EVERY:
            log.warning(
                "%d more messages from %s for closed days not kept in %.0f s (%s)",
                since,
                event.node,
                now - logged_at,
                event.reason,
            )
            logged_at, since = now, 0
        self._deferred[key] = (logged_at, since)


async def _settle(task: asyncio.Future[None]) -> bool:
    """Wait until ``task`` is done even if the caller is cancelled meanwhile; True if it was."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done() or not task.cancelled():
                cancelled = True  # the caller was (the task itself goes on, or just finished)
        except Exception:  # the caller reads the task's outcome
            pass
    return cancelled
