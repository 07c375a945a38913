"""A status computes each of its parts once (issue 18, status2): the presence view (built afresh on
every read of ``sync.presence``), the owed counts and the latest sale's durability (``held_by``). They
were built two to three times a status, ~4 ms a status at 20 devices under the profiler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from meshpos.sync import Synchronizer
from tests.web.kit import make_configs


async def test_a_status_builds_the_presence_view_and_the_durability_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at, o=order.id: v.add_line(CASHIER, o, "burger", 1, at))
        await node.write(lambda v, at, o=order.id: v.pay(CASHIER, o, "card", at))
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
