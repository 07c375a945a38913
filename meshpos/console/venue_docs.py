"""A venue's documents in the console database, as the engine's store port, and what the status reads
of a venue without loading it (docs/architecture.md (Relay and console))."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from meshpos.console.db import ConsoleDB
from meshpos.errors import MeshposError
from meshpos.model import Replica, Venue
from meshpos.model.documents import CATALOG, STOPLIST
from meshpos.model.tally import Tally

T = TypeVar("T")
CONSOLE_NODE = "console"
EDITED = (CATALOG, STOPLIST)  # the documents console edits read and write
MAX_REASON = 400  # what the heartbeat carries of a reason (the console's status shows it whole)


class VenueDocuments:
    """One venue's documents in the console database: the engine's store port (no meta, no drop)."""

    def __init__(self, db: ConsoleDB, venue_id: str) -> None:
        self.db = db
        self.venue_id = venue_id
        self.versions: dict[str, int] = {}  # document -> the version of what this process holds
        self.reports: Callable[[str], Tally] | None = None  # a day's reports, kept when it closes

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,  # (every console commit is fsync'd: PostgreSQL's own)
    ) -> None:
        by_doc: dict[str, list[bytes]] = {}
        for doc, update in updates:
            by_doc.setdefault(doc, []).append(update)
        # pycrdt encoded these (the documents' own change events) after the synchronizer had
        # decoded and applied what the relay sent: not parsed again; one transaction for every
        # document (console edits commit themselves: meshpos.console.drafts)
        versions = await self.db.append_documents(self.venue_id, by_doc, validated=True)
        for doc, version in versions.items():
            self.held(doc, version)

    async def sync(self) -> None:
        """Nothing to do: every append was fsync'd (``fsync`` is ignored)."""

    def held(self, name: str, version: int) -> None:
        """This process holds ``name`` at least at ``version`` (appended or heard)."""
        self.versions[name] = max(version, self.versions.get(name, 0))

    async def load(self) -> dict[str, bytes]:
        loaded: dict[str, bytes] = {}
        for name in await self.db.documents(self.venue_id, open_only=True):
            version = await self.db.document_version(
                self.venue_id, name
            )  # first: the load holds it
            update = await self.db.load_document(self.venue_id, name)
            if update is not None:
                loaded[name] = update
                self.held(name, version)
        return loaded

    async def drop(self, name: str) -> None:
        raise MeshposError(f"venue {self.venue_id}: the console keeps every document ({name})")

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        # what the reports hold of it: a register that was away when the day closed still learns,
        # from the console's beats, that the console holds it all (sync._closed)
        reports = self.reports(name) if self.reports is not None else None
        await self.db.close_document(self.venue_id, name, state_vector, deletions, keys, reports)

    async def closed(self) -> dict[str, tuple[bytes, bytes]]:
        return await self.db.closed_documents(self.venue_id)

    async def find_closed(self, key: str) -> str | None:
        return await self.db.find_closed(self.venue_id, key)

    async def reopen(self, name: str) -> bytes | None:
        version = await self.db.document_version(self.venue_id, name)  # first: the load holds it
        update = await self.db.reopen_document(self.venue_id, name)
        self.held(name, version)
        return update


def unreported_summary(unreported: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
    """What the status shows of the records not in the reports: the total, the first day's reason
    (and how many more days), each day's count and reason; what the heartbeats tell the relays."""
    days = sorted(unreported)
    why = unreported[days[0]][1] if days else ""
    if len(days) > 1:
        why += f" (and {len(days) - 1} more days)"
    return {
        "count": sum(n for n, _ in unreported.values()),
        "reason": _plain(why)[:MAX_REASON],
        "days": {d: {"count": n, "reason": r} for d, (n, r) in sorted(unreported.items())},
    }


async def stored_venue(db: ConsoleDB, venue_id: str) -> Venue:
    """The venue's catalog and stop list as the database holds them, without loading its hub."""
    replica = Replica(capture=False)
    for name in EDITED:
        update = await db.load_document(venue_id, name)
        if update is not None:
            replica.apply(name, update)
    return Venue(replica, device=CONSOLE_NODE, role="console")


def _plain(text: str) -> str:
    """One line of plain text (what a heartbeat may carry): no control characters, no lone surrogates."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
