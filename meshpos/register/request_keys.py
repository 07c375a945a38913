"""The node's memory of the API's ``Idempotency-Key`` requests (docs/api.md, Retries): durable with the write.

A keyed write's answer is kept as a meta entry ``idem/<business date>/<key>`` -> ``{"fp", "status",
"body"}`` committed in the same SQLite transaction as the change's CRDT update (the engine's meta hook,
as the receipt counter's number is): after a ``kill -9`` either both are on disk or neither is, so a
retry with the same key either finds the answer or writes for the first time, never twice.

Only the fingerprints stay in memory (the answers are read back on a retry, which is rare). Keys live
for their business day and the one before (a retry across midnight still finds its key); older ones are
dropped when the node starts and when the business date moves, so the entries follow the live day and
no table grows for ever.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping

from meshpos.engine import Engine
from meshpos.engine.engine import Committed, EngineEvent
from meshpos.store import Store

log = logging.getLogger("meshpos.register")

PREFIX = "idem/"
_END = "idem0"  # the first name after every "idem/..." one ("0" follows "/")


def entry_name(day: str, key: str) -> str:
    return f"{PREFIX}{day}/{key}"


def day_before(day: str) -> str:
    return (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).isoformat()


class RequestKeys:
    """Fingerprints of the keyed writes of the kept days; answers in the store, held until committed."""

    def __init__(self, engine: Engine, store: Store, known: Mapping[str, str], oldest: str) -> None:
        self._store = store
        self._known = dict(known)  # entry name -> the request's fingerprint
        self._pending: dict[str, str] = {}  # entry name -> value, until a commit carried it
        self._oldest = oldest  # the oldest business date whose keys are kept
        engine.add_meta(self._meta)
        engine.subscribe(self._on_committed, Committed)

    @classmethod
    async def open(cls, engine: Engine, store: Store, today: str) -> RequestKeys:
        oldest = day_before(today)
        await store.drop_meta_range(PREFIX, PREFIX + oldest)
        known: dict[str, str] = {}
        for name, value in (await store.meta_range(PREFIX, _END)).items():
            try:
                known[name] = str(json.loads(value)["fp"])
            except (ValueError, KeyError, TypeError):
                log.warning("idempotency entry %r is not one: ignored", name)
        return cls(engine, store, known, oldest)

    def find(self, key: str, today: str) -> tuple[str, str] | None:
        """The entry name and fingerprint ``key`` was used with today or the day before, if it was."""
        for day in (today, day_before(today)):
            name = entry_name(day, key)
            fingerprint = self._known.get(name)
            if fingerprint is not None:
                return name, fingerprint
        return None

    def name(self, key: str, today: str) -> str:
        return entry_name(today, key)

    def pending(self, name: str) -> bool:
        """Written but not yet committed (its answer is not durable yet)."""
        return name in self._pending

    async def answer(self, name: str) -> str | None:
        return await self._store.get_meta(name)

    def hold(self, name: str, fingerprint: str, value: str) -> None:
        """Called inside the keyed change: the entry goes with the commit that carries its update."""
        self._known[name] = fingerprint
        self._pending[name] = value

    async def expire(self, today: str) -> None:
        """Forget the keys of business days before the one before ``today``."""
        oldest = day_before(today)
        if oldest <= self._oldest:
            return
        self._oldest = oldest
        bound = PREFIX + oldest
        self._known = {k: v for k, v in self._known.items() if k >= bound}
        await self._store.drop_meta_range(PREFIX, bound)

    def __len__(self) -> int:
        return len(self._known)

    def _meta(self, local: bool) -> Mapping[str, str]:
        return dict(self._pending)

    def _on_committed(self, event: EngineEvent) -> None:
        if isinstance(event, Committed) and self._pending:
            for name, value in event.meta.items():
                if self._pending.get(name) == value:
                    del self._pending[name]
