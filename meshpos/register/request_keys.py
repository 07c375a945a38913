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

A retry finds its key by the key alone, in whichever kept day holds it, and a day some key was taken
on in the last :data:`RECENT_S` of this run's monotonic time is not dropped whatever the wall clock
says: a register that booted with its clock days behind (a flat clock battery) and is then set right
by NTP, or set back, looked for the key under the new clock's business day and wrote the retried
write a second time (a second burger on the bill; outside, third round: tests/outside/
test_clock_jump_retry.py). A key used again on a later day names the later request.
"""

from __future__ import annotations

import base64
import datetime
import logging
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping

from meshpos.engine import Engine
from meshpos.engine.engine import Committed, EngineEvent
from meshpos.store import Store

log = logging.getLogger("meshpos.register")

PREFIX = "idem/"
_END = "idem0"  # the first name after every "idem/..." one ("0" follows "/")
ANSWERS = "idem-answer/"  # before "idem/" ("-" precedes "/"): outside the fingerprints' range
RECENT_S = 24 * 3600.0  # a day a key was taken on this long ago (monotonic) outlives any clock jump


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


def day_of(name: str) -> str:
    """The business date of the entry ``name`` (an :func:`entry_name`)."""
    return name[len(PREFIX) :].partition("/")[0]


def key_of(name: str) -> str:
    """The ``Idempotency-Key`` of the entry ``name`` (an :func:`entry_name`)."""
    return name[len(PREFIX) :].partition("/")[2]


def day_before(day: str) -> str:
    return (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).isoformat()


class RequestKeys:
    """Fingerprints of the keyed writes of the kept days; answers in the store, held until committed."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        known: Mapping[str, str],
        oldest: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._known = dict(known)  # entry name -> the request's fingerprint
        self._by_key = {key_of(name): name for name in sorted(known)}  # a later day's wins
        self._days = Counter(day_of(name) for name in known)  # business date -> its entries
        self._pending: dict[str, str] = {}  # entry name -> value, until a commit carried it
        self._oldest = oldest  # the oldest business date whose keys are kept
        self._clock = clock
        self._taken: dict[str, float] = {}  # business date -> when this run last took a key on it
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

    def find(self, key: str) -> tuple[str, str] | None:
        """The entry name and fingerprint ``key`` was last used with on a kept day, if it was."""
        name = self._by_key.get(key)
        return None if name is None else (name, self._known[name])

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
        if name not in self._known:
            self._days[day_of(name)] += 1
        self._known[name] = fingerprint
        self._by_key[key_of(name)] = name
        self._taken[day_of(name)] = self._clock()
        self._pending[name] = fingerprint
        self._pending[answer_name(name)] = encode_answer(status, body)

    async def expire(self, today: str) -> None:
        """Forget the keys of business days before the one before ``today``, but for a day a key
        was taken on in the last :data:`RECENT_S` (the wall clock moved by days: module docstring)."""
        oldest = day_before(today)
        if oldest <= self._oldest and not self._kept_past(oldest):
            return
        now = self._clock()
        self._taken = {d: at for d, at in self._taken.items() if now - at < RECENT_S}
        gone = sorted(d for d in self._days if d < oldest and d not in self._taken)
        self._oldest = max(self._oldest, oldest)
        if not gone:
            return
        dropped = set(gone)
        self._known = {k: v for k, v in self._known.items() if day_of(k) not in dropped}
        self._by_key = {k: n for k, n in self._by_key.items() if day_of(n) not in dropped}
        for day in gone:  # every name of ``day`` lies between "<day>/" and "<day>0" ("/" < "0")
            del self._days[day]
            await self._store.drop_meta_range(f"{PREFIX}{day}/", f"{PREFIX}{day}0")
            await self._store.drop_meta_range(f"{ANSWERS}{day}/", f"{ANSWERS}{day}0")

    def _kept_past(self, oldest: str) -> bool:
        """Whether a day before ``oldest`` was kept for its recent keys (to look again later)."""
        return any(day < oldest for day in self._taken)

    def __len__(self) -> int:
        return len(self._known)

    def _meta(self, local: bool) -> Mapping[str, str]:
        return dict(self._pending)

    def _on_committed(self, event: EngineEvent) -> None:
        if isinstance(event, Committed) and self._pending:
            for name, value in event.meta.items():
                if self._pending.get(name) == value:
                    del self._pending[name]
