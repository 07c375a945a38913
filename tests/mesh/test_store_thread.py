"""Issue 18, tail: a node's process lets the store's thread take the GIL back within half a
millisecond (``store.connection.favour_connection_threads``): at CPython's 5 ms, each statement of a
sale's commit could wait that long for a loop busy with a peer's batch."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.node_adapters import open_node_store
from meshpos.store.connection import GIL_SWITCH_INTERVAL

from .kit import make_device, make_venue


@pytest.fixture
def default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # CPython's default
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("default_interval")
async def test_opening_a_nodes_store_shortens_the_switch_interval(tmp_path: Path) -> None:
    config = load_config(make_device(make_venue(tmp_path), tmp_path, "R1"), env={})
    store = await open_node_store(config)
    try:
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL)
        assert GIL_SWITCH_INTERVAL <= 0.001
    finally:
        await store.close()
