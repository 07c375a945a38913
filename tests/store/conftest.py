"""One fixture opens either store, so the contract suite runs unchanged against both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.store import MemoryStore, SqliteStore, Store

from .store_helpers import OpenStore


@pytest.fixture(params=["memory", "sqlite"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """``await open_store(**options)`` returns a fresh store of the parametrized kind."""
    opened: list[Store] = []

    async def factory(**options: Any) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(**options)
        else:
            store = await SqliteStore.open(tmp_path / f"store{len(opened)}.db", **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()
