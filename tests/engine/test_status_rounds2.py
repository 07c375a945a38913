"""One status computation costs less (issue 18, rounds2), and every input still moves it at once.

A publish_indicator built the presence view twice (its owed counts and its status), and every owed
count computed what the console lacks of every open day again, most often from the same counts (a
peer's owed counts or another document moved). Each cache here has a test that fails without its
invalidation: a sale moves the day's counts, the console's reports move them back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.model import tally
from meshpos.register import owed_counts
from meshpos.sync import Synchronizer
from tests.engine.status_kit import sell, shift_open


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Any]:
    """R1 alone, a shift open and one sale made."""
    async with shift_open(tmp_path) as node:
        await sell(node)
        yield node


async def test_a_publish_indicator_builds_the_presence_view_once(
    node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    presence = Synchronizer.presence

    def counted(self: Synchronizer) -> Any:
        built.append(1)
        return presence.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Synchronizer, "presence", property(counted))
    service = node._run().status
    service._generation += 1  # something moved: the owed counts and the status are computed
    service.publish_indicator()
    assert len(built) == 1  # fails before: 2 (the owed counts', then the status's)
    service._generation += 1
    node.status()  # outside a publish_indicator the view is read afresh, as before
    assert len(built) == 2


async def test_a_days_owed_counts_are_computed_again_only_when_its_counts_or_reports_move(
    node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []
    summed: list[int] = []
    missing, add = tally.missing_by_register, tally.add

    def counted(*args: Any) -> Any:
        computed.append(1)
        return missing(*args)

    def counted_add(*args: Any) -> Any:
        summed.append(1)
        return add(*args)

    monkeypatch.setattr(owed_counts, "missing_by_register", counted)
    monkeypatch.setattr(owed_counts, "add", counted_add)
    service, sync = node._run().status, node._run().engine.sync
    service.publish_indicator()
    owed = service.owed()["R1"]
    assert owed["receipts"] == 1
    computed.clear()
    summed.clear()
    service._generation += 1  # another document moved, or a peer's owed counts
    sync._owed_heard += 1
    service.publish_indicator()
    assert service.owed()["R1"] == owed
    assert computed == []  # fails before: counted again from the same counts
    assert summed == []  # fails before: the days' gaps summed again
    sync._say()  # (issue 18, status) a peer said something new, the console's reports did not
    service.publish_indicator()
    assert computed == []  # fails before (status_version keyed the reports): every gap again

    await sell(node)  # the day's counts move: counted again, shown at once
    service.publish_indicator()
    assert computed
    assert service.owed()["R1"]["receipts"] == 2
    assert service._shown is not None
    assert "2 receipts" in service._shown["message"]

    ledger = next(name for name in sync.docs if name.startswith("ledger/"))
    sync.set_console_reports(ledger, {"R1": {"receipts": 2}})  # the console reports them
    service.publish_indicator()
    assert "receipts" not in service.owed().get("R1", {})
    assert "receipts" not in service._shown["message"]
