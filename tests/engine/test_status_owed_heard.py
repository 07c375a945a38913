"""A peer's owed counts move the indicator at once, by what they make the counts (issue 18, rounds).

They moved ``status_version`` (and so a whole status) after every sale of every peer; now they move
``owed_version`` and the indicator is computed again when the owed counts it shows moved.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from meshpos import node_status
from meshpos.register import status as status_module
from meshpos.sync import Heartbeat
from tests.engine.status_kit import hear, shift_open


async def test_a_peers_owed_counts_move_the_indicator_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        beat = Heartbeat(node="R2", role="register", priority=0, uplink=False, relay=False, seq=1)
        heard = {"R2": replace(beat, owed={"receipts": 2})}
        hear(monkeypatch, heard)
        computed: list[int] = []
        compute = node_status.compute_status

        def counted(**kw: Any) -> Any:
            computed.append(1)
            return compute(**kw)

        monkeypatch.setattr(status_module, "compute_status", counted)
        service, sync = node._run().status, node._run().engine.sync
        service._generation += 1  # (R2 came: a version moved)
        service.publish_indicator()
        assert service._shown is not None
        assert "2 receipts of R2" in service._shown["message"]
        shown = len(computed)
        service.publish_indicator()
        assert len(computed) == shown  # nothing moved: not computed again

        heard["R2"] = replace(beat, owed={"receipts": 3})  # R2 sold again
        sync._owed_heard += 1  # (as its heartbeat does: ``_on_heartbeat``)
        service.publish_indicator()
        assert len(computed) == shown + 1
        assert "3 receipts of R2" in service._shown["message"]
