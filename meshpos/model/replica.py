"""The set of named pycrdt documents a node holds, and the updates it must persist.

Every change, local or received, is captured as Yjs update bytes in the order it happened so the caller (the
node) can commit them to the store before acknowledging anything. The client id is fresh for each process
start and is never persisted: two replicas sharing one diverge silently (docs/architecture.md (Durability)).

**Changed** (issue 18, cpu): :attr:`Replica.generation` moves whenever a document is created or dropped,
so a reader of :meth:`Replica.names` (the venue's list of loaded days) keeps its answer until it does.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Subscription, TransactionEvent

from meshpos.errors import DayClosed, MeshposError, RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT, Reader, write_var_uint
from meshpos.model.documents import day_of, valid_document_name


def new_client_id(rng: random.Random | None = None) -> int:
    """A fresh random Yjs client id in 1..2**53-1 (JavaScript peers need it to fit a double).

    Call once per process start and never persist it (docs/architecture.md (Durability)). ``rng`` makes it
    reproducible in tests and simulations; without one it comes from ``secrets``.
    """
    if rng is None:
        return secrets.randbelow(MAX_VAR_UINT) + 1
    return rng.randrange(1, MAX_VAR_UINT + 1)


def encode_state_vector(sv: dict[int, int]) -> bytes:
    """A state vector's lib0 bytes, clients in ascending order (the byte form is then canonical)."""
    out = [write_var_uint(len(sv))]
    for client, clock in sorted(sv.items()):
        out.append(write_var_uint(client))
        out.append(write_var_uint(clock))
    return b"".join(out)


def decode_state_vector(data: bytes) -> dict[int, int]:
    """A Yjs state vector as {client id: clock}; the byte form's client order is not canonical.

    Strict, as for anything a peer sends: RemoteProtocolError names what is wrong (a count the bytes cannot
    hold, a client listed twice, trailing bytes).
    """
    reader = Reader(data)
    count = reader.read_var_uint("state vector length")
    if count > reader.remaining // 2:
        raise RemoteProtocolError(f"state vector: {count} entries cannot fit in {len(data)} bytes")
    sv: dict[int, int] = {}
    for _ in range(count):
        client = reader.read_var_uint("state vector client id")
        clock = reader.read_var_uint("state vector clock")
        if client in sv:
            raise RemoteProtocolError(f"state vector: client id {client} listed twice")
        sv[client] = clock
    reader.expect_end("state vector")
    return sv


@dataclass(frozen=True, slots=True)
class CapturedUpdate:
    document: str
    update: bytes
    local: bool


class Replica:
    """Named documents with one client id, recording every update they produce."""

    def __init__(
        self,
        client_id: int | None = None,
        on_open: Callable[[str], None] | None = None,
        *,
        capture: bool = True,
    ) -> None:
        """``on_open(name)`` runs when a document is first created, before anything is written to
        it: the node uses it to have the synchronizer observe a new business day from its first change.
        ``capture=False`` records nothing: a node's synchronizer already reports every change."""
        self.client_id = client_id if client_id is not None else new_client_id()
        self.on_open = on_open
        self.capture = capture
        self._docs: dict[str, Doc[Any]] = {}
        # name -> the capture's subscription: a document still observed is never freed (pycrdt keeps
        # it alive through the callback), so dropping one unobserves it first
        self._captures: dict[str, Subscription] = {}
        self._closed: set[str] = set()  # closed business days: never created empty (DayClosed)
        self._captured: list[CapturedUpdate] = []
        self._remote_depth = 0
        #: moves whenever :meth:`names` would answer differently (a document created or dropped)
        self.generation = 0

    def doc(self, name: str) -> Doc[Any]:
        """The document ``name``, created empty if new; a closed day raises DayClosed (its content is
        in the store: an empty document over it would read as a day without sales)."""
        existing = self._docs.get(name)
        if existing is not None:
            return existing
        if name in self._closed:
            raise DayClosed(name, day_of(name))
        if not valid_document_name(name):
            raise MeshposError(f"{name!r} is not a meshpos document name")
        doc: Doc[Any] = Doc(client_id=self.client_id)
        if self.capture:
            self._captures[name] = doc.observe(lambda event, name=name: self._capture(name, event))
        self._docs[name] = doc
        self.generation += 1
        if self.on_open is not None:
            self.on_open(name)
        return doc

    def has(self, name: str) -> bool:
        return name in self._docs

    def names(self) -> list[str]:
        return sorted(self._docs)

    def unload(self, name: str) -> None:
        """Forget ``name`` entirely (clear cache): the next ``doc`` creates it empty."""
        self._drop(name)
        self._closed.discard(name)

    def close(self, name: str) -> None:
        """Unload a closed business day; ``doc(name)`` raises DayClosed until :meth:`reopen`."""
        self._drop(name)
        self._closed.add(name)

    def _drop(self, name: str) -> None:
        doc = self._docs.pop(name, None)
        self.generation += 1
        subscription = self._captures.pop(name, None)
        if doc is not None and subscription is not None:
            doc.unobserve(subscription)

    def reopen(self, name: str) -> None:
        """The day may be created again (the engine loads it from the store right after)."""
        self._closed.discard(name)

    @property
    def closed(self) -> frozenset[str]:
        return frozenset(self._closed)

    def apply(self, name: str, update: bytes) -> None:
        """Apply an update from a peer or the store; it is captured as not local."""
        doc = self.doc(name)
        self._remote_depth += 1
        try:
            doc.apply_update(update)
        finally:
            self._remote_depth -= 1

    def _capture(self, name: str, event: TransactionEvent) -> None:
        update = bytes(event.update)
        if update != b"\x00\x00":
            self._captured.append(CapturedUpdate(name, update, self._remote_depth == 0))

    def take_updates(self) -> list[CapturedUpdate]:
        """Everything captured since the last call, oldest first."""
        captured, self._captured = self._captured, []
        return captured
