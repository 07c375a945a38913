"""The node's memory of the API's ``Idempotency-Key`` requests (docs/api.md, Retries): durable with the write.

A keyed write is kept as two meta entries, ``idem/<business date>/<key>`` -> the request's fingerprint
and ``idem-answer/<business date>/<key>`` -> ``<status> <body>`` (the body's JSON deflated and in
base64: an order's answer is ~8 kB, ~1.2 kB so), committed in the same SQLite transaction as the
change's CRDT update (the engine's meta hook, as the receipt counter's number is): after a ``kill -9``
either all are on disk or none is, so a retry with the same key either finds the answer or writes for
the first time, never twice.

Only the fingerprints stay in memory, and a start reads only them (the answers, under their own names
and so apart in the meta table's key order, are read back on a retry, which is rare: a start read every
answer whole to keep the fingerprints, ~100 ms and 18 MB at 40,000 keys). An entry of the first
layout (``idem/...`` -> ``<fingerprint> <status> <body>``, written until the tenth session) is read as
before until its day is dropped. Keys live
for their business day and the one before (a retry across midnight still finds its key); older ones are
dropped when the node starts and when the business date moves, so the entries follow the live day and
no table grows for ever.
"""

from __future__ import annotations

import base64
import datetime
import logging
import zlib
from collections.abc import Mapping

from meshpos.engine import Engine
from meshpos.engine.engine import Committed, EngineEvent
from meshpos.store import Store

log = logging.getLogger("meshpos.register")

PREFIX = "idem/"
_END = "idem0"  # the first name after every "idem/..." one ("0" follows "/")
ANSWERS = "idem-answer/"  # before "idem/" ("-" precedes "/"): outside the fingerprints' range


def entry_name(day: str, key: str) -> str:
    return f"{PREFIX}{day}/{key}"


def answer_name(name: str) -> str:
    """Where the answer of the entry ``name`` (an :func:`entry_name`) is kept."""
    return ANSWERS + name.removeprefix(PREFIX)


def encode_answer(status: int, body: bytes) -> str:
    packed = base64.b64encode(zlib.compress(body, 1)).decode("ascii")
    return f"{status} {packed}"


def decode_answer(value: str) -> tuple[int, bytes]:
    """(status, body) of an answer's value, or of a first-layout entry's (``<fingerprint> <status>
    <body>``); ValueError for one that is neither."""
    parts = value.split(" ")
    if len(parts) not in (2, 3):
        raise ValueError(f"not an idempotency answer: {len(parts)} fields")
    status, packed = parts[-2:]
    try:
        return int(status), zlib.decompress(base64.b64decode(packed, validate=True))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"not an idempotency answer: {exc}") from None


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
        await store.drop_meta_range(ANSWERS, ANSWERS + oldest)
        known: dict[str, str] = {}
        for name, value in (await store.meta_range(PREFIX, _END)).items():
            known[name] = value.partition(" ")[
                0
            ]  # (a first-layout entry holds its answer after it)
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

    async def answer(self, name: str) -> tuple[int, bytes] | None:
        """The committed answer's status and body (None: none, or one that does not read back)."""
        value = await self._store.get_meta(answer_name(name))
        if value is None:  # a first-layout entry holds it
            value = await self._store.get_meta(name)
        if value is None:
            return None
        try:
            status, body = decode_answer(value)
        except ValueError as exc:
            log.error("idempotency entry %r: %s", name, exc)
            return None
        return status, body

    def hold(self, name: str, fingerprint: str, status: int, body: bytes) -> None:
        """Called inside the keyed change: the entry goes with the commit that carries its update."""
        self._known[name] = fingerprint
        self._pending[name] = fingerprint
        self._pending[answer_name(name)] = encode_answer(status, body)

    async def expire(self, today: str) -> None:
        """Forget the keys of business days before the one before ``today``."""
        oldest = day_before(today)
        if oldest <= self._oldest:
            return
        self._oldest = oldest
        bound = PREFIX + oldest
        self._known = {k: v for k, v in self._known.items() if k >= bound}
        await self._store.drop_meta_range(PREFIX, bound)
        await self._store.drop_meta_range(ANSWERS, ANSWERS + oldest)

    def __len__(self) -> int:
        return len(self._known)

    def _meta(self, local: bool) -> Mapping[str, str]:
        return dict(self._pending)

    def _on_committed(self, event: EngineEvent) -> None:
        if isinstance(event, Committed) and self._pending:
            for name, value in event.meta.items():
                if self._pending.get(name) == value:
                    del self._pending[name]
