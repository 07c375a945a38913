"""A node's start collects only what it made (issue 18, catch-up): the full collection it ran walked every
object of the process (25-90 ms), which a register restarting into a backlog of sales waited for before
it served or synced. What existed before the start is frozen by it and unfrozen by its stop."""

from __future__ import annotations

import gc
import random
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.node_adapters import make_node

from ..mesh.kit import make_device, make_venue


def _host() -> str:
    return f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.14"


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_automatic_collection")
async def test_the_start_walks_only_what_it_made_and_the_stop_unfreezes(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config = load_config(make_device(authority, tmp_path, "R1", host=_host()), env={})
    node = make_node(config, discovery=False)
    before = weakref.ref(Cycle())  # garbage made before the start: left to the usual collections
    await node.start()
    try:
        assert before() is not None  # the start's collection did not walk it (frozen)
        made = weakref.ref(Cycle())
        gc.collect()
        assert made() is None  # what is not frozen is collected as always
        assert before() is not None
    finally:
        await node.stop()
    gc.collect()
    assert before() is None  # unfrozen by the stop: collected as usual


async def test_a_start_that_fails_unfreezes(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config = load_config(make_device(authority, tmp_path, "R2", host=_host()), env={})
    (config.data_dir / "api.url").mkdir()  # found only after the node began to listen for peers
    node = make_node(config, discovery=False)
    with pytest.raises(Exception, match=r"api\.url"):
        await node.start()
    assert gc.get_freeze_count() == 0
