"""Small pycrdt helpers shared by the store tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pycrdt

from meshpos.store import Store

OpenStore = Callable[..., Awaitable[Store]]


class Recorder:
    """A Doc whose every transaction's update is kept, as a node would store it."""

    def __init__(self) -> None:
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    def set(self, key: str, value: Any) -> bytes:
        with self.doc.transaction():
            self.doc.get("m", type=pycrdt.Map)[key] = value
        return self.updates[-1]


def content(update: bytes | None) -> dict[str, Any]:
    """What a fresh Doc shows after applying ``update``."""
    assert update is not None
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return {
        "m": doc.get("m", type=pycrdt.Map).to_py(),
        "a": doc.get("a", type=pycrdt.Array).to_py(),
    }


def snapshot(doc: pycrdt.Doc[Any]) -> dict[str, Any]:
    return content(doc.get_update())


def replace_merger(store: Any, merger: Any) -> None:
    """Put ``merger`` (a test's ``Merger`` subclass) in ``store``'s place, the one its writer uses and
    the one its close stops. The store started its own merger's helper process when it opened: that
    one is stopped now. Set only on the writer, a test's merger's helper (a merge past the inline size
    starts one) outlived the store, and a later test of the same pytest worker that counts this
    process's helpers found two (test_compaction_survives_its_helper_process_dying, under xdist)."""
    store._merger.close()
    store._merger = store._writer._merger = merger
