"""Set-up shared by the status tests (tests/engine/test_status_*.py): a lone register with a shift
open, a sale, a count of the documents' pending reads, peers' heartbeats heard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from meshpos.sync import Heartbeat, Synchronizer
from tests.web.kit import make_configs


@asynccontextmanager
async def shift_open(tmp_path: Path) -> AsyncIterator[Any]:
    """R1 alone (no discovery), a shift open."""
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        yield node


async def sell(node: Any) -> None:
    """An order of one burger, paid by card."""
    order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
    await node.write(lambda v, at, o=order.id: v.add_line(CASHIER, o, "burger", 1, at))
    await node.write(lambda v, at, o=order.id: v.pay(CASHIER, o, "card", at))


def documents_asked(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """The documents the synchronizer's ``method(doc)`` is called for from now on, in order."""
    asked: list[str] = []
    original = getattr(Synchronizer, method)

    def counted(self: Synchronizer, doc: str) -> Any:
        asked.append(doc)
        return original(self, doc)

    monkeypatch.setattr(Synchronizer, method, counted)
    return asked


def pending_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents ``sync.pending`` is asked for from now on, in order."""
    return documents_asked(monkeypatch, "pending")


def hear(monkeypatch: pytest.MonkeyPatch, heard: dict[str, Heartbeat]) -> None:
    """``sync.presence`` and ``sync.linked_presence`` also hold ``heard`` (linked peers' last
    heartbeats; the test changes it)."""
    for name in ("presence", "linked_presence"):
        original = getattr(Synchronizer, name)

        def with_heard(self: Synchronizer, original: Any = original) -> Any:
            return {**original.fget(self), **heard}

        monkeypatch.setattr(Synchronizer, name, property(with_heard))
