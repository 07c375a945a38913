"""One contract for every NodeAPI: the web tests' fake and a real node (store, links, API) in this process.

What the web layer relies on: reads follow writes; a write is answered once its change is published on
the change stream, naming the documents it touched; a refused change comes back as its error; an unknown
id is UnknownRecord; the status names the node. A fake that passes this may stand in for the node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import SESSION_IDLE_S
from meshpos.errors import ClearCacheRefused, MeshposError, UnknownRecord, WriteFailed
from meshpos.model import TICKET_STATES, Receipt, Venue
from meshpos.model.receipt_search import ReceiptQuery
from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.web.port import NodeAPI

from .conftest import running
from .fake_node import FakeNode
from .kit import make_configs


@pytest.fixture(params=["fake", "node"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NodeAPI]:
    if request.param == "fake":
        yield FakeNode("R1", "register")
        return
    async with running(make_configs(tmp_path, [("R1", "register")])) as (node,):
        yield node


def ledger_docs(docs: frozenset[str]) -> set[str]:
    return {d for d in docs if d.startswith("ledger/")}


async def test_who_the_node_is(api: NodeAPI) -> None:
    assert (api.node_id, api.role) == ("R1", "register")
    assert api.venue_id
    assert api.pin_lockout_s > 0
    assert api.session_idle_s == SESSION_IDLE_S  # node.toml's default
    assert isinstance(api.counters, Counter)
    status = api.status()
    assert (status.node, status.role) == ("R1", "register")
    assert status.colour == "gray"  # on its own: no peer, no console


async def test_a_write_is_answered_once_its_change_is_published(api: NodeAPI) -> None:
    first, second = api.changes(), api.changes()
    shift = await api.write(lambda venue, now: venue.open_shift_now(CASHIER, 500, now))
    for subscription in (first, second):
        change = subscription.pending()
        assert change is not None, "the write answered before its change was published"
        assert change.local
        assert len(ledger_docs(change.docs)) == 1
    second.close()
    assert api.current_shift() == shift
    assert api.expected_cash(shift) == 500
    order = await api.write(lambda venue, now: venue.open_order(CASHIER, now, table="T4"))
    change = first.pending()
    assert change is not None
    assert ledger_docs(change.docs)
    closed = second.pending()
    assert closed is None or not closed.docs  # closed: it hears of nothing more
    assert api.order(order.id).table == "T4"
    first.close()


async def test_reads_follow_writes(api: NodeAPI) -> None:
    await api.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
    order = await api.write(lambda venue, now: venue.open_order(CASHIER, now))
    await api.write(lambda venue, now: venue.add_line(CASHIER, order.id, "burger", 2, now))
    changes = api.changes()
    ticket = await api.write(lambda venue, now: venue.send_to_kitchen(CASHIER, order.id, now))
    assert ticket is not None
    change = changes.pending()
    assert change is not None
    assert any(d.startswith("kitchen/") for d in change.docs)
    changes.close()
    today = api.business_date(api.now_ms())
    assert [t.id for t in api.tickets(today, TICKET_STATES)] == [ticket.id]
    assert api.tickets(today, ("served",)) == []
    assert api.tickets("1999-01-01", TICKET_STATES) == []  # a day not loaded
    assert api.ticket(ticket.id).order_id == order.id
    bumped = await api.write(lambda venue, now: venue.bump(COOK, ticket.id, now))
    assert api.ticket(ticket.id).state == bumped.state != ticket.state
    assert [o.id for o in api.orders()] == [order.id]
    assert [o.id for o in api.open_orders()] == [order.id]

    paid = await api.write(lambda venue, now: venue.pay(CASHIER, order.id, "card", now))
    assert paid.receipt is not None
    receipt = paid.receipt
    assert api.order(order.id).status == "paid"
    assert api.open_orders() == []
    assert [r.id for r in api.receipts(today, 50)] == [receipt.id]
    assert api.receipts("1999-01-01", 50) == []  # a day not loaded
    assert api.receipt(receipt.id).number == receipt.number
    line = receipt.lines[0]
    refund = await api.write(
        lambda venue, now: venue.refund(MANAGER, receipt.id, now, lines={line.line_id: 1})
    )
    assert [r.id for r in api.refunds(receipt.id)] == [refund.id]
    assert api.refunded_quantities(receipt.id) == {line.line_id: 1}

    entry = await api.write(lambda venue, now: venue.set_stop(COOK, "fries", True, now))
    assert api.stops()["fries"] == entry
    assert {u.id for u in api.catalog().users()} >= {CASHIER, COOK}
    assert all(d.id for d in api.discounts())


async def test_receipts_come_a_page_at_a_time_newest_first(api: NodeAPI) -> None:
    await api.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
    issued = []
    for _ in range(5):

        def sale(venue: Venue, now: int) -> Receipt | None:
            order = venue.open_order(CASHIER, now)
            venue.add_line(CASHIER, order.id, "fries", 1, now)
            return venue.pay(CASHIER, order.id, "card", now).receipt

        receipt = await api.write(sale)
        assert receipt is not None
        issued.append(receipt)
    today = api.business_date(api.now_ms())
    newest_first = [r.id for r in sorted(issued, key=lambda r: (r.issued_at_ms, r.number))][::-1]
    first = api.receipts(today, 2)
    assert [r.id for r in first] == newest_first[:2]
    second = api.receipts(today, 2, first[-1].id)
    assert [r.id for r in second] == newest_first[2:4]
    assert [r.id for r in api.receipts(today, 10, second[-1].id)] == newest_first[4:]
    assert [r.id for r in api.receipts(today, 10)] == newest_first
    with pytest.raises(UnknownRecord):
        api.receipts(today, 2, "no-such-receipt")
    shift = api.current_shift()
    assert shift is not None
    await api.write(lambda venue, now: venue.cash_move(CASHIER, "in", 700, "float", now))
    assert api.expected_cash(shift) == shift.opening_cash + 700  # card sales leave the drawer alone


async def test_unknown_ids_are_unknown_records(api: NodeAPI) -> None:
    for read in (api.order, api.receipt, api.ticket, api.refunded_quantities):
        with pytest.raises(UnknownRecord):
            read("no-such-id")


async def test_a_refused_change_comes_back_as_its_error(api: NodeAPI) -> None:
    with pytest.raises(MeshposError) as refused:  # no shift is open on this register
        await api.write(lambda venue, now: venue.open_order(CASHIER, now))
    assert refused.value.code != WriteFailed.code
    assert api.orders() == []
    assert api.open_orders() == []

    def broken(venue: object, now: int) -> None:
        raise ZeroDivisionError

    with pytest.raises(WriteFailed):
        await api.write(broken)


async def test_clear_cache_is_refused_without_the_console(api: NodeAPI) -> None:
    with pytest.raises(ClearCacheRefused):
        await api.clear_cache()


async def test_business_days_and_loading_a_day_that_is_not_closed(api: NodeAPI) -> None:
    today = api.business_date(api.now_ms())
    shown = api.days()
    assert shown.today == today
    assert shown.closed == ()
    assert shown.ended == ()
    assert not await api.open_day("2001-01-01")  # never held: nothing to load
    assert not await api.open_day(today)
    assert not await api.open_day_of("no-such-receipt")
    await api.write(lambda venue, now: venue.open_shift_now(CASHIER, 0, now))
    assert today in api.days().loaded


async def test_shift_reports_no_sales_and_receipt_search_follow_writes(api: NodeAPI) -> None:
    """The reads behind X/Z reports, no-sales and receipt search (issue 17) answer the same on both."""
    shift = await api.write(lambda venue, now: venue.open_shift_now(CASHIER, 100, now))
    order = await api.write(lambda venue, now: venue.open_order(CASHIER, now, table="T9"))
    await api.write(lambda venue, now: venue.add_line(CASHIER, order.id, "espresso", 1, now))
    paid = await api.write(lambda venue, now: venue.pay(CASHIER, order.id, "cash", now))
    assert paid.receipt is not None
    opened = await api.write(lambda venue, now: venue.no_sale(CASHIER, "coins", now))
    today = api.business_date(api.now_ms())
    assert api.no_sales(today) == [opened]
    assert api.no_sales("2001-01-01") == []
    report = api.shift_report(shift.id)
    assert (report.report, report.receipts, report.sales) == ("X", 1, paid.receipt.total)
    assert report.drawer_expected == api.expected_cash(shift)
    assert report.no_sales == (opened,)
    found = api.search_receipts(today, ReceiptQuery(table="t9"), 10)
    assert [(f.receipt, f.table) for f in found] == [(paid.receipt, "T9")]
    assert api.search_receipts(today, ReceiptQuery(amount=paid.receipt.total + 1), 10) == []
    with pytest.raises(UnknownRecord):
        api.shift_report("no-such-shift")
