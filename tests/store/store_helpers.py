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
