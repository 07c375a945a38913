"""A status computes each of its parts once (issue 18, status2): the presence view (built afresh on
every read of ``sync.presence``), the owed counts and the latest sale's durability (``held_by``). They
were built two to three times a status, ~4 ms a status at 20 devices under the profiler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshpos.sync import Synchronizer
from tests.engine.status_kit import sell, shift_open


async def test_a_status_builds_the_presence_view_and_the_durability_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        await sell(node)
        built: list[str] = []
        presence, held_by = Synchronizer.presence, Synchronizer.held_by

        def counted_presence(self: Synchronizer) -> Any:
            built.append("presence")
            return presence.fget(self)  # type: ignore[attr-defined]

        def counted_held_by(self: Synchronizer, doc: str) -> Any:
            built.append("held_by")
            return held_by(self, doc)

        monkeypatch.setattr(Synchronizer, "presence", property(counted_presence))
        monkeypatch.setattr(Synchronizer, "held_by", counted_held_by)
        service = node._run().status
        service._generation += 1  # something moved: the owed counts are counted again too
        status = node.status()
        assert status.latest_sale is not None
        assert status.latest_sale.devices == 1
        assert sorted(built) == ["held_by", "presence"]
