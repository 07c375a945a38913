"""One write's changes leave together (issue 18, tenth session, cpu; ``sync/_lingering.py``,
``Lingering.writing``): a write that may not wait and changes documents in several transactions (a
sale's payment: the payment, the receipt number's mark in ``stoplist``, the receipt) sends one merged
update per document when it ends, in the order of each document's last change, in the same flush as
before; a peer applies each document once. A write that raises midway still sends what it changed."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Map

from meshpos.engine import Engine
from meshpos.errors import WriteFailed
from meshpos.model.documents import ledger_name
from tests.engine.test_engine import Recording, settle, stop_here
from tests.engine.test_engine_linger import applies, pair, put, updates

DAY = ledger_name("2026-12-06")


def ledger_here(e: Engine) -> Map[Any]:
    return e.replica.doc(DAY).get("test", type=Map)


def pay_like(e: Engine) -> None:
    """Three transactions, as a payment's: the ledger, the stop list (a number's mark), the ledger."""
    ledger_here(e)["payment"] = "card"
    stop_here(e)["mark"] = "7"
    ledger_here(e)["receipt"] = "R-7"


async def test_a_write_of_several_transactions_sends_one_update_per_document() -> None:
    a, b, wire = await pair()
    seen = applies(b)
    await a.write(lambda: pay_like(a))  # (before: three updates, the ledger's two apart)
    sent = updates(wire[0])
    assert [m.doc for m in sent] == ["stoplist", DAY]  # the mark before the receipt, as before
    await settle(a, b, wire)
    assert seen == ["stoplist", DAY]  # one apply each
    assert dict(ledger_here(b)) == {"payment": "card", "receipt": "R-7"}
    assert dict(stop_here(b)) == {"mark": "7"}


async def test_the_waiting_taps_leave_merged_into_the_writes_update() -> None:
    store = Recording()
    a, b, wire = await pair(store)
    seen = applies(b)
    await a.write(lambda: ledger_here(a).__setitem__("open", "o"), wait_ms=10_000)
    await a.write(put(a, "line"), wait_ms=10_000)
    assert updates(wire[0]) == []
    await a.write(lambda: pay_like(a))
    assert sorted(m.doc for m in updates(wire[0])) == sorted(["stoplist", DAY])
    await settle(a, b, wire)
    assert sorted(seen) == sorted(["stoplist", DAY])
    assert dict(ledger_here(b)) == {"open": "o", "payment": "card", "receipt": "R-7"}
    assert dict(stop_here(b)) == {"line": "line", "mark": "7"}
    assert a.sync.linger_due is None
    assert a.sync.lingering == 0


async def test_a_write_that_fails_midway_still_sends_what_it_changed() -> None:
    a, b, wire = await pair()

    def half() -> None:
        ledger_here(a)["payment"] = "card"
        stop_here(a)["mark"] = "8"
        raise ValueError("the printer caught fire")

    with pytest.raises(WriteFailed):
        await a.write(half)
    assert sorted(m.doc for m in updates(wire[0])) == sorted(["stoplist", DAY])
    await settle(a, b, wire)
    assert dict(ledger_here(b)) == {"payment": "card"}
    assert dict(stop_here(b)) == {"mark": "8"}
    # and the next write is sent on its own, not gathered into a write long over
    await a.write(put(a, "next"))
    assert [m.doc for m in updates(wire[0])] == ["stoplist"]
