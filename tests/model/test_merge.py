"""What happens when registers act during a partition and their documents merge."""

from __future__ import annotations

from meshpos.model import StopList
from meshpos.model.sample import CASHIER, COOK

from .conftest import NOW, make_venue, sync


def test_two_registers_paying_one_order_is_a_visible_conflict() -> None:
    r1 = make_venue("R1")
    r2 = make_venue("R2", catalog_from=r1.replica)
    for v in (r1, r2):
        v.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW, table="7")
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    sync(r1.replica, r2.replica)
    # partition: both take the full amount
    p1 = r1.pay(CASHIER, order.id, "card", NOW)
    p2 = r2.pay(CASHIER, order.id, "cash", NOW)
    sync(r1.replica, r2.replica)
    for v in (r1, r2):
        merged = v.order(order.id)
        assert {p.id for p in merged.payments} == {p1.payment.id, p2.payment.id}  # nothing dropped
        kinds = sorted(c.kind for c in v.conflicts())
        assert kinds == ["double_receipt", "overpaid"]
        assert all(c.order_id == order.id for c in v.conflicts())
    assert r1.conflicts() == r2.conflicts()


def test_lines_added_on_two_registers_both_survive() -> None:
    r1 = make_venue("R1")
    r2 = make_venue("R2", catalog_from=r1.replica)
    for v in (r1, r2):
        v.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    sync(r1.replica, r2.replica)
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    r2.add_line(CASHIER, order.id, "fries", 2, NOW)
    sync(r1.replica, r2.replica)
    assert r1.order(order.id) == r2.order(order.id)
    assert r1.order(order.id).totals.total == 1250 + 900


def test_line_added_after_receipt_elsewhere_is_a_conflict() -> None:
    r1 = make_venue("R1")
    r2 = make_venue("R2", catalog_from=r1.replica)
    for v in (r1, r2):
        v.open_shift_now(CASHIER, 0, NOW)
    order = r1.open_order(CASHIER, NOW)
    r1.add_line(CASHIER, order.id, "burger", 1, NOW)
    sync(r1.replica, r2.replica)
    r1.pay(CASHIER, order.id, "card", NOW)
    r2.add_line(CASHIER, order.id, "fries", 1, NOW)
    sync(r1.replica, r2.replica)
    assert [c.kind for c in r2.conflicts()] == ["changed_after_receipt"]


def test_later_stop_wins_whichever_device_made_it() -> None:
    a = make_venue("R1")
    b = make_venue("R2", catalog_from=a.replica)
    # b acts later in wall time, without having seen a's change: the later change wins
    a.set_stop(CASHIER, "fries", True, NOW)
    b.set_stop(CASHIER, "fries", False, NOW + 5_000)
    sync(a.replica, b.replica)
    assert not a.stoplist.is_stopped("fries")
    assert not b.stoplist.is_stopped("fries")
    # a's clock is 10 minutes behind, but it has seen b's change: its new change still wins
    a.set_stop(COOK, "fries", True, NOW - 600_000)
    sync(a.replica, b.replica)
    for v in (a, b):
        entry = v.stoplist.entry("fries")
        assert entry is not None
        assert (entry.stopped, entry.device) == (True, "R1")
    assert a.stoplist.stopped_items() == b.stoplist.stopped_items() == ["fries"]


def test_stop_list_result_does_not_depend_on_client_ids() -> None:
    outcomes = set()
    for _ in range(6):  # fresh random client ids each round
        a = make_venue("R1")
        b = make_venue("R2", catalog_from=a.replica)
        a.set_stop(CASHIER, "burger", True, NOW + 1)
        b.set_stop(CASHIER, "burger", False, NOW)
        sync(a.replica, b.replica)
        outcomes.add(StopList(b.replica.doc("stoplist")).is_stopped("burger"))
    assert outcomes == {True}
