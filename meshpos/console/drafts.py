"""A console edit made on a copy of the venue's documents first (docs/architecture.md (Relay and console)).

**Changed** (issue 18 session, debts): an edit used to change the hub's live documents, then commit;
when the commit failed (PostgreSQL gone, disk full) the change stayed in memory, was shown by the
console's pages and sent to the relays with the next commit, although the client had been told it
failed. Now the change runs on a draft: a replica with the hub's client id holding a copy of each
document the change reads, made when it first reads it. What the draft wrote is returned as updates;
the hub commits them with the audit entry and only then applies them to its live documents (which
forwards them to the relays). A change that raises, or a commit that fails, leaves nothing behind.

Drafts of one hub must not overlap (the caller holds a lock): two drafts from the same state under the
same client id would write different content under the same clocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from meshpos.console.records import AuditEntry
from meshpos.console.venue_docs import CONSOLE_NODE, EDITED, VenueDocuments
from meshpos.errors import MeshposError, WriteFailed
from meshpos.model import Replica, Venue

if TYPE_CHECKING:
    from meshpos.engine import Engine

T = TypeVar("T")


def draft(
    live: Replica, change: Callable[[Venue], T], *, device: str, role: str
) -> tuple[T, dict[str, list[bytes]]]:
    """Run ``change`` on a copy of ``live``'s documents: its result and the updates it wrote, per
    document in the order written. ``live`` is only read. A change that raises leaves nothing to
    commit: a MeshposError is raised as it is, anything else (a pycrdt panic is a BaseException) as
    WriteFailed."""
    copy = Replica(client_id=live.client_id)
    for name in live.closed:  # a closed day is read from the store, never as an empty copy
        copy.close(name)

    def opened(name: str) -> None:  # the live content, before the change reads or writes it
        if live.has(name):
            copy.apply(name, live.doc(name).get_update())

    copy.on_open = opened
    try:
        result = change(Venue(copy, device=device, role=role))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except MeshposError:
        raise
    except BaseException as exc:
        raise WriteFailed(f"the change failed ({type(exc).__name__}); nothing was written") from exc
    updates: dict[str, list[bytes]] = {}
    for captured in copy.take_updates():
        if captured.local:
            updates.setdefault(captured.document, []).append(captured.update)
    return result, updates


class Drafts:
    """A hub's console edits, one at a time: drafted, committed with their audit entry, then applied."""

    def __init__(
        self,
        engine: Engine,
        documents: VenueDocuments,
        catch_up: Callable[[str], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.documents = documents
        self.catch_up = catch_up  # the hub's: what another process (or a lost answer) committed
        self._lock = asyncio.Lock()

    async def edit(
        self, change: Callable[[Venue], T], audit: Callable[[T], AuditEntry] | None
    ) -> T:
        db, venue_id = self.documents.db, self.documents.venue_id
        async with self._lock:
            for name in EDITED:
                await self.catch_up(name)
            result, updates = draft(
                self.engine.replica, change, device=CONSOLE_NODE, role="console"
            )
            entries = [] if audit is None else [audit(result)]
            if not updates:  # the documents stay as they were: the entry is logged on its own
                for entry in entries:
                    await db.add_audit(venue_id, entry)
                return result
            versions = await db.append_documents(venue_id, updates, validated=True, audit=entries)
            for name, written in updates.items():  # forwarded to the relays like another's commit
                await self.engine.apply_stored(name, written)
                self.documents.held(name, versions.get(name, 0))
            return result
