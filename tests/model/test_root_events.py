"""One shared deep observer per day's orders (``model/_root_events``, issue 18, observers): the tally and
the day index hear exactly what pycrdt's own ``observe_deep`` reported to each before, at no pycrdt event
conversion, and a day they both let go of is freed."""

from __future__ import annotations

import gc
import json
import random
import weakref
from functools import partial
from typing import Any

import pycrdt._base
import pytest
from pycrdt import Doc, Map, MapEvent, merge_updates

from meshpos.errors import MeshposError
from meshpos.model import Replica, Venue
from meshpos.model._root_events import RootChange, unwatch, watch
from meshpos.model.day_index import DayIndex, _Ids
from meshpos.model.documents import ledger_name
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.tally import _FLAT_ROOTS, LedgerTally

from .conftest import shifts_open

NOW = 1_764_064_800_000
_INDEXED = ("orders", "receipts", "cash_moves", "refunds")  # the roots the day index keeps ids of
# every root the tally or the index follows
_ROOTS = tuple(dict.fromkeys((*_FLAT_ROOTS, "shift_closes", *_INDEXED)))


def _as_read(value: Any) -> Any:
    """A value as a listener reads it, comparable after the callback (a nested map by its content)."""
    return ("map", value.to_py()) if isinstance(value, Map) else value


def _heard(seen: list[Any], changes: list[RootChange]) -> None:
    seen.extend(_changes_read(changes))


def _changes_read(changes: list[RootChange]) -> list[Any]:
    return [
        (
            list(path),
            None
            if keys is None
            else {
                k: {
                    f: _as_read(v)
                    for f, v in change.items()
                    # (a nested type added: the shared observer's is yrs' own, valid only then)
                    if f != "newValue" or not isinstance(v, (Map, *pycrdt._base.base_types))
                }
                for k, change in keys.items()
            },
        )
        for path, keys in changes
    ]


def _from_pycrdt(events: list[Any]) -> list[RootChange]:
    """pycrdt's converted events as the tally and the index read them before (path, a map's keys)."""
    # (pycrdt declares MapEvent.keys in __slots__ only: no type for mypy)
    return [
        RootChange(list(e.path), e.keys if isinstance(e, MapEvent) else None)  # type: ignore[attr-defined]
        for e in events
    ]


class _Before:
    """A day followed through pycrdt's own observers, as the tally and the day index each did before
    (``observe_deep`` on the orders, ``observe`` on each flat root): a tally counting from them, the
    index's touched order ids and each root's ids, and every change as read, by root."""

    def __init__(self, doc: Doc[Any]) -> None:
        self.tally = LedgerTally(doc)
        for held in self.tally._watches:
            unwatch(held)
        self.tally._watches.clear()
        self.ids = {root: _Ids(doc.get(root, type=Map)) for root in _INDEXED}
        self.touched: set[str] = set()
        self.seen: dict[str, list[Any]] = {root: [] for root in _ROOTS}
        self.subscriptions = []
        for root in _ROOTS:
            observed: Map[Any] = doc.get(root, type=Map)
            if root == "orders":
                sub = observed.observe_deep(self._on_orders)
            else:
                sub = observed.observe(partial(self._on_root, root))
            self.subscriptions.append((observed, sub))

    def _on_orders(self, events: list[Any]) -> None:
        changes = _from_pycrdt(events)
        self.seen["orders"] += _changes_read(changes)
        self.tally._on_orders(changes)
        for path, keys in changes:  # day_index's on_orders before
            if path:
                self.touched.add(str(path[0]))
            elif keys is not None:
                self.ids["orders"].on_keys(keys)

    def _on_root(self, root: str, event: Any) -> None:
        changes = [RootChange([], event.keys)]  # the tally's _on_root and _Ids.on_event read keys
        self.seen[root] += _changes_read(changes)
        if root in self.tally._roots:
            self.tally._on_root(root, changes)
        if root in self.ids:
            self.ids[root].on_keys(event.keys)


def _older_order(venue: Venue, rng: random.Random, step: int) -> None:
    """An order as an older node writes it: a map per part, payments in a ``payments`` map."""
    orders = venue.ledger(venue.business_date(NOW)).doc.get("orders", type=Map)
    older = [k for k in orders if k.startswith("old-")]
    payment = json.dumps({"id": f"p{step}", "register": venue.device, "amount": 100})
    if older and rng.random() < 0.6:
        order = orders[rng.choice(older)]
        if isinstance(order, Map) and isinstance(order.get("payments"), Map):
            order["payments"][f"p{step}"] = payment
    else:
        orders[f"old-{venue.device}-{step}"] = Map(
            {"info": json.dumps({"status": "open"}), "payments": Map({f"p{step}": payment})}
        )


def _take_back(venue: Venue, rng: random.Random) -> None:
    """A receipt and its order's entry deleted (a write taken back), or a whole older order."""
    doc = venue.ledger(venue.business_date(NOW)).doc
    orders = doc.get("orders", type=Map)
    with doc.transaction():
        for order_id in rng.sample(sorted(orders), k=min(3, len(orders))):
            order = orders[order_id]
            if order_id.startswith("old-"):
                del orders[order_id]
                return
            paid = [k for k in order if k.startswith("receipts/")]
            if paid:
                del order[paid[0]]
                receipts = doc.get("receipts", type=Map)
                receipt_id = paid[0].removeprefix("receipts/")
                if receipt_id in receipts:
                    del receipts[receipt_id]
                return


def _step(venue: Venue, rng: random.Random, step: int) -> None:
    roll = rng.random()
    try:
        if roll < 0.35:
            order = venue.open_order(CASHIER, NOW + step)
            venue.add_line(CASHIER, order.id, "espresso", 1 + step % 2, NOW + step)
        elif roll < 0.7:
            day = venue.ledger(venue.business_date(NOW))
            open_orders = [o for o in day.orders() if o.status == "open" and o.lines]
            if open_orders:
                order = rng.choice(open_orders)
                amount = order.totals.due if rng.random() < 0.6 else max(1, order.totals.due // 2)
                venue.pay(CASHIER, order.id, "card", NOW + step, amount=amount)
        elif roll < 0.85:
            _older_order(venue, rng, step)
        else:
            _take_back(venue, rng)
    except MeshposError:
        pass


@pytest.mark.parametrize("seed", range(4))
def test_the_shared_observer_hands_the_tally_and_the_index_what_pycrdt_reported(seed: int) -> None:
    """Three registers write a day (sales, part payments, older nodes' orders with a ``payments`` map,
    writes taken back, whole orders deleted) and exchange it out of order and merged, as a lossy mesh
    does. On every replica the shared observer's changes equal pycrdt's converted events; a tally and a
    day index fed by it keep exactly the counts, touched ids and order ids they kept from pycrdt's own
    observer (drift where pycrdt reports nothing included); once all arrived, a recount agrees."""
    rng = random.Random(seed)
    venues = shifts_open("R1", "R2", "R3")
    name = ledger_name(venues[0].business_date(NOW))
    date = venues[0].business_date(NOW)
    docs = [venue.replica.doc(name) for venue in venues]
    before = [_Before(doc) for doc in docs]
    tallies = [LedgerTally(doc) for doc in docs]
    indexes = [DayIndex(venue) for venue in venues]
    seen: list[dict[str, list[Any]]] = [{root: [] for root in _ROOTS} for _ in docs]
    spies = [
        watch(doc, partial(_heard, s[root]), root, deep=root == "orders")
        for doc, s in zip(docs, seen, strict=True)
        for root in _ROOTS
    ]
    for index in indexes:
        index._follow()
    log: list[tuple[int, bytes]] = []
    for step in range(70):
        i = rng.randrange(3)
        state = docs[i].get_state()
        _step(venues[i], rng, step)
        log.append((i, docs[i].get_update(state)))
        j = rng.randrange(3)
        if rng.random() < 0.5:  # a step 2 from where j stands, from one of the others
            k = rng.choice([k for k in range(3) if k != j])
            venues[j].replica.apply(name, docs[k].get_update(docs[j].get_state()))
        else:  # merged updates of several authors, often ahead of an author's order
            picked = [u for a, u in rng.sample(log, k=min(len(log), rng.randrange(1, 5))) if a != j]
            if picked:
                venues[j].replica.apply(name, merge_updates(*picked))
        for r in range(3):
            day = indexes[r]._days[date]
            assert seen[r] == before[r].seen, (seed, step, r)
            assert tallies[r].counts() == before[r].tally.counts(), (seed, step, r)
            assert day.touched == before[r].touched, (seed, step, r)
            kept = {"orders": day.orders, "receipts": day.receipt_keys}
            kept |= {"cash_moves": day.move_keys, "refunds": day.refund_keys}
            for root, ids in kept.items():
                old = before[r].ids[root]
                assert (ids.ids, ids.added, ids.removed) == (old.ids, old.added, old.removed)
    for j in range(3):
        for author, update in log:
            if author != j:
                venues[j].replica.apply(name, update)
    assert all(seen[0][root] for root in ("orders", "receipts")), "nothing was heard"
    for doc, tally, was in zip(docs, tallies, before, strict=True):
        assert tally.counts() == was.tally.counts()
        tally.recount()
        assert tally.counts() == LedgerTally(doc).counts()
    for spy in spies:
        unwatch(spy)


def test_a_tally_and_a_day_index_convert_no_pycrdt_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Following a day costs no pycrdt event objects (``observe_callback``/``observe_deep_callback``
    build them per subscription: before, per sale received, one of each per root the tally or the
    index observes and that the sale changed)."""
    converted: list[str] = []
    for name in ("observe_callback", "observe_deep_callback"):
        original = getattr(pycrdt._base, name)

        def counting(*args: Any, name: str = name, original: Any = original) -> None:
            converted.append(name)
            original(*args)

        monkeypatch.setattr(pycrdt._base, name, counting)
    seller = Venue(Replica(), device="R1")
    sample_catalog(seller.catalog)
    seller.open_shift_now(CASHIER, 0, NOW)
    receiver = Venue(Replica(), device="R2")
    name = ledger_name(seller.business_date(NOW))
    tally = LedgerTally(receiver.replica.doc(name))
    index = DayIndex(receiver)
    index._follow()
    for k in range(3):
        order = seller.open_order(CASHIER, NOW + k)
        seller.add_line(CASHIER, order.id, "espresso", 1, NOW + k)
        seller.pay(CASHIER, order.id, "card", NOW + k)
        for change in seller.replica.take_updates():
            receiver.replica.apply(change.document, change.update)
    assert tally.counts()["R1"]["receipts"] == 3
    assert index._days[seller.business_date(NOW)].touched
    assert len(index._days[seller.business_date(NOW)].receipt_keys.ids) == 3
    assert converted == []


def test_a_day_let_go_of_by_both_is_freed_and_one_left_still_hears() -> None:
    replica = Replica()
    venue = Venue(replica, device="R1")
    sample_catalog(venue.catalog)
    venue.open_shift_now(CASHIER, 0, NOW)
    date = venue.business_date(NOW)
    doc = replica.doc(ledger_name(date))
    tally = LedgerTally(doc)
    index = DayIndex(venue)
    index._follow()
    tally.close()
    order = venue.open_order(CASHIER, NOW)  # the index still hears the orders
    assert order.id in index._days[date].orders.ids
    tally.close()  # again: nothing
    gone = weakref.ref(doc)
    del doc, order, tally
    index.forget(date)
    replica.close(ledger_name(date))
    venue.forget_day(date)
    gc.collect()
    assert gone() is None, "something still holds the day's document"


def test_a_listener_that_raises_stops_neither_the_other_nor_is_swallowed() -> None:
    doc: Doc[Any] = Doc()
    heard: list[list[RootChange]] = []

    def fails(changes: list[RootChange]) -> None:
        raise ValueError("listener failed")

    first, second = watch(doc, fails), watch(doc, heard.append)
    with pytest.raises(ExceptionGroup) as raised:
        doc.get("orders", type=Map)["o1"] = "{}"
    assert raised.group_contains(ValueError, match="listener failed")
    assert [[tuple(c) for c in changes] for changes in heard] == [
        [([], {"o1": {"action": "add", "newValue": "{}"}})]
    ]
    unwatch(first)
    unwatch(second)
