"""Revocations on the engine: the deny-list a node enforces, learnt from the mesh and kept whole.

docs/architecture.md (Security). A revocation is an entry signed by the venue CA (``meshpos revoke``) in
the ``denylist`` document. Every node learns the verified entries from it, drops links to revoked
devices, and keeps its own copy in the store's meta (committed with the updates, through the engine's
meta hook). Deletions carry no author in Yjs, so a peer could erase an entry: every node that knows one
writes it back, and the repair is committed and sent like any change.

**Changed** (outside, attacker, the twenty-third session): an entry whose text is JSON nested past
Python's recursion limit is ignored as any invalid entry. Any device may write this document, and
reading such an entry raised RecursionError (only ValueError was caught): one 6 kB entry from an
enrolled register was kept and passed on, and every node that took it failed at its next start
("unexpected error: RecursionError") (``tests/outside/test_deep_revocation.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pycrdt import Map

from meshpos.engine import Committed, Engine, EngineEvent
from meshpos.errors import MeshposError
from meshpos.store import Store
from meshpos.sync import DocumentChanged
from meshpos.trust.denylist import DenyList

log = logging.getLogger("meshpos.trust")

DOCUMENT = "denylist"
META_KEY = "denylist"  # the node's own copy, in the store's meta


class Revocations:
    """The verified deny-list of one node, in step with the ``denylist`` document."""

    def __init__(self, engine: Engine, ca_pem: str, stored: str | None) -> None:
        """``stored``: the copy the store's meta held (None: none yet)."""
        self._engine = engine
        self._ca_pem = ca_pem
        self._deny = DenyList(ca_pem)
        self._changed = False
        #: told each device that turns out revoked (the mesh drops its links)
        self.on_revoked: Callable[[str], None] = lambda device: None
        for entry in json.loads(stored or "[]"):
            self._deny.add(entry)
        engine.subscribe(self._on_event, DocumentChanged, Committed)
        engine.add_meta(self._meta)
        self.refresh()

    @classmethod
    async def open(cls, engine: Engine, ca_pem: str, store: Store) -> Revocations:
        """The node's deny-list: its copy in the store, then what the documents add."""
        return cls(engine, ca_pem, await store.get_meta(META_KEY))

    def _on_event(self, event: EngineEvent) -> None:
        if type(event) is DocumentChanged:  # (nearly every event: one test; issue 18, cpu)
            if event.doc == DOCUMENT:
                self.refresh()
        elif isinstance(event, Committed) and META_KEY in event.meta:
            self._changed = False

    def _meta(self, local: bool) -> Mapping[str, str]:
        return {META_KEY: json.dumps(self._deny.entries())} if self._changed else {}

    def refresh(self) -> None:
        """Learn CA-signed revocations from the document, and put back any verified entry it lost."""
        revoked = self._engine.replica.doc(DOCUMENT).get("revoked", type=Map)
        for device, raw in revoked.items():
            if self._deny.is_revoked(device):
                continue
            try:  # (a peer's text: nested past Python's recursion limit, it raises RecursionError)
                entry = json.loads(raw) if isinstance(raw, str) else None
            except (ValueError, RecursionError):
                entry = None
            if isinstance(entry, dict) and self._deny.add(entry):
                log.warning("device %s is revoked", device)
                self._changed = True
                self.on_revoked(device)
            else:
                log.warning("ignoring an invalid revocation entry for %r", device)
        for entry in self._deny.entries():
            text = json.dumps(entry, sort_keys=True)
            if revoked.get(str(entry["device"])) != text:
                revoked[str(entry["device"])] = text  # repaired; the change is committed and sent

    def is_revoked(self, device_id: str) -> bool:
        return self._deny.is_revoked(device_id)

    def entries(self) -> list[dict[str, str | int]]:
        """The CA-signed deny-list entries this node enforces, by device id."""
        return self._deny.entries()

    async def revoke(self, entry: Mapping[str, Any]) -> None:
        """Add a revocation signed by the venue CA (``meshpos revoke``) to the mesh's deny-list."""
        if not DenyList(self._ca_pem).add(dict(entry)):
            raise MeshposError("revocation refused: not signed by this venue's authority")
        device = str(entry["device"])

        def write() -> None:
            revoked = self._engine.replica.doc(DOCUMENT).get("revoked", type=Map)
            revoked[device] = json.dumps(dict(entry), sort_keys=True)

        await self._engine.write(write)
