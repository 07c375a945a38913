"""The status recounts a day (a full read of it) only after changes came out of their authors' order
(another process's commits, a catch-up of several authors): pycrdt reports every change this node writes
and every change that arrives in order, and misses some nested ones only after partial or reordered
delivery (docs/architecture.md (Status)). A register selling alone, or among peers whose sales arrive in
order, never waits for a recount."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from meshpos.register import status as status_module
from meshpos.sync import DocumentChanged
from tests.web.kit import make_configs


async def test_a_day_is_recounted_once_after_changes_out_of_order_never_after_in_order_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recounts: list[str]
) -> None:
    monkeypatch.setattr(status_module, "RECOUNT_WHEN_QUIET", 0.0)  # every day is quiet at once
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        for _ in range(3):
            order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
            # (each write is awaited here: the loop's next order cannot reach these lambdas)
            await node.write(lambda v, at: v.add_line(CASHIER, order.id, "burger", 1, at))  # noqa: B023
            await node.write(lambda v, at: v.pay(CASHIER, order.id, "card", at))  # noqa: B023
            assert node.status().owed["receipts"] >= 1
        assert recounts == []
        assert (
            node.status().receipts == 3
        )  # counted by the tallies, as the day's receipts map holds

        service = node._run().status
        name = ledger_name(node.business_date(node.now_ms()))
        sync = node.engine.sync
        service._on_event(
            DocumentChanged(name, b"", "peer")
        )  # a peer's update, in its author's order
        node.status()
        assert recounts == []  # pycrdt reported it all: the live count holds
        # another process's commit (its own order, maybe not its authors'): what the engine reports
        sync.apply_stored(name, sync.docs[name].get_update())
        service._on_event(DocumentChanged(name, b"", None, stored=True))
        owed = node.status().owed
        assert len(recounts) == 1
        assert node.status().owed == owed  # counted once: the day has not changed since
        assert len(recounts) == 1
        service._on_event(DocumentChanged(name, b"", "peer"))
        node.status()
        assert len(recounts) == 1  # settled: an in-order change after it costs no recount


async def test_a_quiet_day_whose_changes_came_in_order_moves_no_input_of_the_indicator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recounts: list[str]
) -> None:
    """A day that took a peer's change in its author's order needs no recount once quiet: that moves
    nothing the indicator is computed from, so a tick computes the status once for the change and not
    again on the next tick (it did: the day was "due" until the status looked at it, issue 18)."""
    monkeypatch.setattr(status_module, "RECOUNT_WHEN_QUIET", 0.0)  # every day is quiet at once
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        service = node._run().status
        name = ledger_name(node.business_date(node.now_ms()))
        computed: list[object] = []
        real = status_module.StatusService._status

        def counted(self: status_module.StatusService, **kw: Any) -> object:
            computed.append(self)
            return real(self, **kw)

        monkeypatch.setattr(status_module.StatusService, "_status", counted)
        service.publish_indicator()
        computed.clear()
        service._on_event(DocumentChanged(name, b"", "peer"))  # a peer's update, in order
        service.publish_indicator()
        assert len(computed) == 1
        service.publish_indicator()  # the next tick: nothing moved
        service.publish_indicator()
        assert len(computed) == 1
        assert recounts == []


async def test_an_own_write_into_an_order_past_a_hole_is_counted_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recounts: list[str]
) -> None:
    """Another process committed an order whose author's earlier change it had lost (the order sits
    past a hole in that author's clocks): pycrdt reports no write into it, not even this node's own,
    until the hole fills (tests/sync/test_sync_hole_counts.py). The node's own payment into it makes
    the day worth counting again, so the owed count is never short. Failed before (issue 18,
    tallybug): the day was settled after the first recount and the payment was never counted."""
    monkeypatch.setattr(status_module, "RECOUNT_WHEN_QUIET", 0.0)  # every day is quiet at once
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        service = node._run().status
        name = ledger_name(node.business_date(node.now_ms()))
        sync = node.engine.sync
        node.status()  # the day's live tally, counted whole
        author: Doc[Any] = Doc(client_id=987_654)
        author.get("shifts", type=Map)["lost"] = "x"  # clock 0: never arrives
        hole = author.get_state()
        author.get("orders", type=Map)["o1"] = Map({"info": "table 4"})
        sync.apply_stored(name, author.get_update(hole))
        service._on_event(DocumentChanged(name, b"", None, stored=True))
        owed = node.status().owed
        assert len(recounts) == 1
        orders = sync.docs[name].get("orders", type=Map)
        assert "o1" in orders, "pycrdt shows what came past the hole (else this tests nothing)"
        orders["o1"]["payments/p1"] = json.dumps({"register": "R1", "amount": 100})
        service._on_event(DocumentChanged(name, b"", None))  # what the engine reports of it
        assert node.status().owed.get("payments", 0) == owed.get("payments", 0) + 1
        assert len(recounts) == 2
