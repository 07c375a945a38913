"""The owed counts read the linked peers' heartbeats, not the whole presence view (issue 18, cpu).

A peer tells its owed counts in its own heartbeat only (a far record carries none), yet the owed
counts built the presence view (a heartbeat made of every far record, sorted) to find them, and the
tick's ``publish_owed`` hook runs outside a round, so it built one of its own on every tick that
something moved: at 20 devices ~2 % of a device's CPU. A peer's counts still move them at once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from meshpos.sync import Heartbeat, Synchronizer
from tests.engine.status_kit import hear, sell, shift_open


async def test_the_ticks_owed_counts_build_no_presence_view_and_a_peers_counts_move_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        await sell(node)
        beat = Heartbeat(node="R2", role="register", priority=0, uplink=False, relay=False, seq=1)
        heard = {"R2": replace(beat, owed={"receipts": 2})}
        hear(monkeypatch, heard)
        built: list[int] = []
        presence = Synchronizer.presence

        def counted(self: Synchronizer) -> Any:
            built.append(1)
            return presence.fget(self)  # type: ignore[attr-defined]

        monkeypatch.setattr(Synchronizer, "presence", property(counted))
        service, sync = node._run().status, node._run().engine.sync
        service._generation += 1  # something moved: the owed counts are computed again
        service.publish_owed()  # (the tick's hook, outside a publish_indicator)
        assert built == []  # fails before: 1 (the view built for the peers' told counts)
        assert service.owed()["R2"] == {"receipts": 2}
        assert service.owed()["R1"]["receipts"] == 1

        heard["R2"] = replace(beat, owed={"receipts": 3})  # R2 sold again: moves them at once
        sync._owed_heard += 1  # (as its heartbeat does: ``_on_heartbeat``)
        service.publish_owed()
        assert service.owed()["R2"] == {"receipts": 3}
        service.publish_indicator()
        assert service._shown is not None
        assert "3 receipts of R2" in service._shown["message"]
