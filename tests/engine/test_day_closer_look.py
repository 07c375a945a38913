"""The day closer's look each second tells today's business day again only when it may have moved: a
minute began or a document changed (the venue's settings, a day's end). Telling it parses the venue's
settings, the dearest part of an idle node's ticks (issue 18, ticker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.model.documents import ledger_name
from meshpos.node_adapters import make_node
from meshpos.register.days import DayCloser
from meshpos.sync import DocumentChanged
from tests.web.kit import make_configs


async def test_today_is_told_again_only_after_a_change_or_a_new_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        run = node._run()
        now = [node.now_ms() // 60_000 * 60_000]  # a minute's start
        told: list[int] = []
        real = run.numbers.venue.business_date

        def business_date(now_ms: int) -> str:
            told.append(now_ms)
            return real(now_ms)

        monkeypatch.setattr(run.numbers.venue, "business_date", business_date)
        closer = DayCloser(run.engine, run.numbers.venue, run.status, config, now_ms=lambda: now[0])
        for second in range(5):  # an idle node looks each second
            now[0] += 1_000 * (second > 0)
            assert closer.closable() == []
        assert len(told) == 1
        name = ledger_name(real(now[0]))
        closer._on_event(DocumentChanged(name, b"", "peer"))  # a peer's change: maybe a day's end
        assert closer.closable() == []
        assert len(told) == 2
        now[0] += 60_000  # a new minute: a day may have begun
        assert closer.closable() == []
        assert len(told) == 3
        assert closer.closable() == []
        assert len(told) == 3
