"""What one console process hears of another's commits, when several share one PostgreSQL.

docs/architecture.md (Relay and console): each append of a document's updates is announced with the
rows it wrote, so every other process applies them to its hub and sends them on to its relays. Kept
apart from the adapters so the storage port (``db``) and PostgreSQL's adapter both name it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredNotice:
    """Another console process committed ``count`` updates of one document: the log rows of that
    document with ``after < seq <= through`` (unless a compaction folded them into the snapshot since;
    ``compacted`` says the commit itself did)."""

    venue_id: str
    doc_name: str
    after: int
    through: int
    count: int
    compacted: bool
    version: int
    """The document's version after that commit (``ConsoleDB.append_updates``)."""
