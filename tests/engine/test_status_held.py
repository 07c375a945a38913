"""The latest sale's durability costs a status nothing when nothing it is counted from moved (issue 18,
held): ``held_by`` was built (every node's held state as dicts) and every node tested, every status.
Each input still moves the count in the status right after it: what a node holds (a step 1, an
attestation: ``tests/sync/test_sync_held_count.py`` with real messages), a new receipt, a peer
leaving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshpos.sync import Heartbeat
from meshpos.sync._updates import held_clocks
from tests.engine.status_kit import documents_asked, hear, sell, shift_open


def held_by_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents ``sync.held_by`` is built for from now on."""
    return documents_asked(monkeypatch, "held_by")


def counted(node: Any) -> tuple[int, int]:
    """The latest sale's (k, n) of "on k of n devices" in a status computed now."""
    latest = node.status().latest_sale
    assert latest is not None
    return latest.devices, latest.of


async def test_a_status_builds_no_held_state_when_nothing_moved_and_a_new_sale_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        await sell(node)
        first = node.status().latest_sale
        built = held_by_builds(monkeypatch)
        for _ in range(3):
            assert node.status().latest_sale == first
        assert built == []  # fails before: built every status
        await sell(node)  # a new receipt: counted afresh, once
        latest = node.status().latest_sale
        assert latest is not None
        assert first is not None
        assert latest.receipt != first.receipt
        node.status()
        assert len(built) == 1


async def test_a_peer_holding_the_sale_counts_in_the_next_status_and_one_leaving_lowers_n(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        await sell(node)
        sync = node._run().engine.sync
        heard: dict[str, Heartbeat] = {}
        hear(monkeypatch, heard)
        assert counted(node) == (1, 1)
        beat = Heartbeat(node="R2", role="register", priority=0, uplink=False, relay=False, seq=1)
        heard["R2"] = beat
        heard["R3"] = Heartbeat(node="R3", role="kds", priority=0, uplink=False, relay=False, seq=1)
        assert counted(node) == (1, 3)
        day = next(name for name in sync.docs if name.startswith("ledger/"))
        sync._held_by.note("R2", day, dict(held_clocks(sync.docs[day])))  # (as R2's step 1 does)
        assert counted(node) == (2, 3)  # at once
        del heard["R3"]  # the screen left: n lowers at once
        assert counted(node) == (2, 2)
        sync._held_by.note("R2", day, {})  # R2 says it holds nothing (a wiped device)
        assert counted(node) == (1, 2)  # never kept higher
