"""What the store's writer queues (``store/writer.py``): appends committed together, work that gets a
transaction of its own, and the marks ``sync`` waits at."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from meshpos.store.connection import Job


@dataclasses.dataclass(slots=True)
class Append:
    """Rows to commit with the other appends queued beside them (group commit)."""

    rows: list[tuple[str, bytes]]
    meta: dict[str, str]
    done: asyncio.Future[None]
    fsync: bool


@dataclasses.dataclass(slots=True)
class Mark:
    """A place in the queue for ``sync``: told, with the unsynced commits so far, once every write
    before it is committed; no transaction of its own, the writer goes on at once."""

    done: asyncio.Future[int]


@dataclasses.dataclass(slots=True)
class Exclusive:
    """Work that gets a transaction of its own (compaction, flags, drops)."""

    what: str
    job: Job
    done: asyncio.Future[None]
    committed: Callable[[], None] | None = None
