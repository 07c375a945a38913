"""A node gives back what start-up freed a few seconds after it starts, not while it starts (issue 18,
catch-up): the full collection walks every object of the process, which a register restarting into a
backlog of sales waited for before it served or synced."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

import meshpos.node
from meshpos.config import load_config
from meshpos.node_adapters import make_node

from ..mesh.kit import make_device, make_venue


def _host() -> str:
    return f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.14"


async def test_memory_is_released_once_after_start_and_not_during_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    released = asyncio.Event()
    loop = asyncio.get_running_loop()

    def release() -> bool:  # (runs on a thread)
        calls.append("released")
        loop.call_soon_threadsafe(released.set)
        return True

    monkeypatch.setattr(meshpos.node, "release_memory", release)
    monkeypatch.setattr(meshpos.node, "RELEASE_AFTER_START_S", 0.2)
    authority = make_venue(tmp_path)
    config = load_config(make_device(authority, tmp_path, "R1", host=_host()), env={})
    node = make_node(config, discovery=False)
    await node.start()
    try:
        assert calls == []  # started: serving and syncing, nothing collected yet
        await asyncio.wait_for(released.wait(), 10)
        assert calls == ["released"]
    finally:
        await node.stop()


async def test_a_node_stopped_before_the_release_does_not_release_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(meshpos.node, "release_memory", lambda: bool(calls.append("released")))
    monkeypatch.setattr(meshpos.node, "RELEASE_AFTER_START_S", 0.2)
    authority = make_venue(tmp_path)
    config = load_config(make_device(authority, tmp_path, "R2", host=_host()), env={})
    node = make_node(config, discovery=False)
    await node.start()
    waiting = node._release  # the release's timer, due after the stop
    assert waiting is not None
    await node.stop()
    assert waiting.cancelled()
    assert calls == []
