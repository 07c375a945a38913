"""What the pages read most, kept per ledger day and brought up to date only for the days that changed.

Open orders, the receipts of a day and this register's open shift were read by walking every loaded ledger
day on every request, so a page's cost grew with the history a register holds (docs/benchmarks.md,
history). This index keeps, per loaded day, the open orders, the receipt ids (and, once asked, the
order of the day's receipts) and the open shifts. A day is marked changed by its document's update
event — doc-level events never miss a change, unlike map observers on nested types
(docs/architecture.md (Library facts)) — and only a changed day is looked at again, and then only what
can have moved (docs/architecture.md (Node)):

- orders: new orders are read, the open orders are read again (lines are added to them), and so are the
  orders a deep observer saw touched (a hint: it is how a paid order taken back by its writer shows up
  again as open);
- receipts: insert-only, so only ids not seen before are read (and a page reads its own receipts, the
  newest of which stay parsed);
- shifts: a day holds a handful, read again whole;
- the cash each shift's drawer took on the day (``Ledger.cash_flow``, what the current shift's expected
  cash adds up), once asked: the payments of the orders read again, and the cash moves and refunds not
  seen before (all insert-only).

The day's order and receipt ids are listed whole once; after that the root maps' own events keep them
(which ids came and went). pycrdt reports every change of this replica's own; after any other change (a
peer's update, a deletion) a look checks the ids against the maps' lengths (a count, not a listing, though
still O(map) in yrs): a mismatch, such as an event pycrdt did not report, lists the ids whole again. So a look after a sale costs
what the sale changed, not the day's size (docs/benchmarks.md, history). A day is never scanned for its
closed orders or its old receipts again, and a day that did not change costs nothing. The index holds no state of its own that matters: dropping it rebuilds it from the
documents (as a cleared cache or an unloaded day does).

**Changed** (outside round six, longshift; the twentieth session): it keeps each day's part of a
shift's X or Z figures (``shift_report``), dropped on the day's update event: an X of a shift left open
for weeks read every day since it opened; it reads the days that changed. (shiftsum) Both a report
and the expected cash add the kept parts of the shift's closed days (``model/kept_parts.py``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map

from meshpos.errors import UnknownRecord
from meshpos.model._root_events import RootChange, RootWatch, unwatch, watch
from meshpos.model.documents import day_of, is_ledger, ledger_name
from meshpos.model.kept_parts import DayPart
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import Order, Receipt, Shift
from meshpos.model.records import CASH_MOVES, ORDERS, RECEIPTS, REFUNDS
from meshpos.model.replica import decode_state_vector
from meshpos.model.shift_report import ShiftReport, day_part, report_of
from meshpos.model.table_index import Placed, TablePlaces
from meshpos.model.venue_base import VenueBase

RECEIPTS_KEPT = (
    200  # parsed receipts kept per day for the pages (the newest a page asks for, mostly)
)


@dataclass(eq=False)
class _Ids:
    """The keys of one root map, kept by its events once listed whole (see the module's docstring)."""

    root: Map[Any]
    ids: set[str] = field(default_factory=set)
    listed: bool = False  # listed whole at least once: since then the events keep ``ids``
    added: set[str] = field(default_factory=set)  # since the last look
    removed: set[str] = field(default_factory=set)  # since the last look

    def on_keys(self, keys: dict[str, Any]) -> None:
        """A root-level map event's keys (pycrdt's ``{key: {"action": ...}}``)."""
        for key, change in keys.items():
            if change.get("action") == "delete":
                self.ids.discard(key)
                self.added.discard(key)
                self.removed.add(key)
            else:  # "add" (an "update" replaces a value: look at it as new)
                self.ids.add(key)
                self.added.add(key)

    def on_changes(self, changes: list[RootChange]) -> None:  # the root's own (model/_root_events)
        for _, keys in changes:
            if keys is not None:
                self.on_keys(keys)

    def look(self, listing: Callable[[], list[str]], check: bool) -> tuple[set[str], set[str]]:
        """(ids added, ids removed) since the last look; the ids listed whole when they are not known
        yet or, if ``check``, their count differs from the map's (a count is O(map) in yrs too)."""
        added, removed = self.added, self.removed
        self.added, self.removed = set(), set()
        if not self.listed or (check and len(self.root) != len(self.ids)):
            listed = set(listing())
            added |= listed - self.ids
            removed |= self.ids - listed
            self.ids, self.listed = listed, True
        return added, removed


@dataclass(eq=False)
class _Day:
    ledger: Ledger
    doc: Doc[Any]
    orders: _Ids
    receipt_keys: _Ids
    move_keys: _Ids
    refund_keys: _Ids
    subscriptions: list[tuple[Any, Any]]  # (what is observed, its subscription)
    # its part of the day's shared observers of the roots (model/_root_events: the tally's too)
    watches: list[RootWatch] = field(default_factory=list)
    changed: bool = True
    # a change not this replica's own alone came since the last look: check the ids against the maps
    unsure: bool = True
    touched: set[str] = field(default_factory=set)  # order ids a deep observer saw change
    open_orders: dict[str, Order] = field(default_factory=dict)
    # (sort key, id) of the day's receipts, oldest first, from their first request: a page reads only its
    # own receipts, and the day's thousands are not kept parsed in memory
    receipts: list[tuple[Any, str]] | None = None
    parsed: dict[str, Receipt] = field(default_factory=dict)  # receipts read for a page, by id
    open_shifts: list[Shift] = field(default_factory=list)
    cash: _Cash | None = None  # once asked
    places: TablePlaces | None = None  # the orders by table and tab, once a search asked
    # each shift's part of the day's figures, once an X or Z asked; dropped whenever the day changes
    parts: dict[str, DayPart] = field(default_factory=dict)


@dataclass(eq=False)
class _Cash:
    """One day's cash by shift id, kept by the record that moved it (so a record read again replaces
    what it counted before), and its sum per shift kept as records come and go (a look costs what
    changed, not the day's payments)."""

    by_order: dict[str, Counter[str]]  # order id -> shift id -> cash taken (amounts and tips)
    moves: dict[str, tuple[str, int]]  # cash move id -> (shift id, in - out)
    refunds: dict[str, tuple[str, int]]  # refund id -> (shift id, - cash refunded)
    totals: dict[str, int] = field(default_factory=dict)  # shift id -> the sum of all the above

    @classmethod
    def read(cls, ledger: Ledger, order_ids: Iterable[str] | None = None) -> _Cash:
        cash = cls({}, {}, {})
        cash.take(ledger, ledger.order_ids() if order_ids is None else order_ids)
        for m in ledger.cash_moves():
            cash.move(m.id, m.shift_id, m.amount if m.kind == "in" else -m.amount)
        for r in ledger.refunds():
            cash.refund(r.id, r.shift_id, -r.amount if r.method == "cash" else 0)
        return cash

    def _count(self, shift_id: str, amount: int) -> None:
        self.totals[shift_id] = self.totals.get(shift_id, 0) + amount

    def take(self, ledger: Ledger, order_ids: Iterable[str]) -> None:
        ids = list(order_ids)
        for order_id in ids:
            self.drop(order_id)
            self.by_order[order_id] = Counter()
        for p in ledger.payments(ids):
            if p.method == "cash":
                self.by_order[p.order_id][p.shift_id] += p.amount + p.tip
                self._count(p.shift_id, p.amount + p.tip)

    def drop(self, order_id: str) -> None:
        """Uncount an order (gone, or about to be read again)."""
        for shift_id, amount in self.by_order.pop(order_id, Counter()).items():
            self._count(shift_id, -amount)

    def move(self, move_id: str, shift_id: str, amount: int) -> None:
        self.moves[move_id] = (shift_id, amount)
        self._count(shift_id, amount)

    def refund(self, refund_id: str, shift_id: str, amount: int) -> None:
        self.refunds[refund_id] = (shift_id, amount)
        self._count(shift_id, amount)

    def of(self, shift_id: str) -> int:
        return self.totals.get(shift_id, 0)


class DayIndex:
    """Per loaded ledger day of ``venue``: open orders, receipt ids and receipts, open shifts."""

    def __init__(self, venue: VenueBase) -> None:
        self.venue = venue
        self._days: dict[str, _Day] = {}

    # --- keeping up -----------------------------------------------------------------------------
    def _follow(self) -> None:
        """Follow the ledger days loaded now (new ones, and a day whose document was replaced)."""
        loaded = {day_of(n) for n in self.venue.replica.names() if is_ledger(n)}
        for date in list(self._days):
            if date not in loaded:
                self._drop(date)
        for date in loaded:
            doc = self.venue.replica.doc(ledger_name(date))
            day = self._days.get(date)
            if day is not None and day.doc is doc:
                continue
            if day is not None:
                self._drop(date)
            self._days[date] = self._watch(date, doc)

    def _watch(self, date: str, doc: Doc[Any]) -> _Day:
        orders: Map[Any] = doc.get("orders", type=Map)
        receipts, moves, refunds = (
            _Ids(doc.get(spec.root, type=Map)) for spec in (RECEIPTS, CASH_MOVES, REFUNDS)
        )
        day = _Day(self.venue.ledger(date), doc, _Ids(orders), receipts, moves, refunds, [])

        own = doc.client_id

        def changed(event: Any) -> None:  # a pycrdt TransactionEvent
            day.changed = True
            day.parts.clear()
            if not day.unsure and not _own_only(event.before_state, event.after_state, own):
                day.unsure = True

        def on_orders(changes: list[RootChange]) -> None:
            for path, keys in changes:
                if path:
                    day.touched.add(str(path[0]))
                elif keys is not None:  # the root itself: orders added or taken back
                    day.orders.on_keys(keys)

        day.subscriptions.append((doc, doc.observe(changed)))
        day.watches.append(watch(doc, on_orders))
        for root, ids in (
            (RECEIPTS.root, receipts),
            (CASH_MOVES.root, moves),
            (REFUNDS.root, refunds),
        ):
            day.watches.append(watch(doc, ids.on_changes, root, deep=False))
        return day

    def forget(self, date: str) -> None:
        """Drop a day whose documents were closed (unloaded): its observers and parsed records go,
        and with them the last reference to its document."""
        if date in self._days:
            self._drop(date)

    def _drop(self, date: str) -> None:
        day = self._days.pop(date)
        for owner, subscription in day.subscriptions:
            owner.unobserve(subscription)
        for held in day.watches:
            unwatch(held)

    def _fresh(self, date: str) -> _Day | None:
        day = self._days.get(date)
        if day is not None and day.changed:
            self._catch_up(day)
        return day

    def _catch_up(self, day: _Day) -> None:
        check, day.changed, day.unsure = day.unsure, False, False
        ledger = day.ledger
        new, gone = day.orders.look(ledger.order_ids, check)
        ids = day.orders.ids
        again = new | set(day.open_orders) | (day.touched & ids)
        day.touched = set()
        for order_id in again | gone:
            day.open_orders.pop(order_id, None)
        if day.cash is not None:  # a settled order read again may have taken its last payment
            for dropped in gone:
                day.cash.drop(dropped)
            day.cash.take(ledger, sorted(again & ids))
        moves = day.move_keys.look(lambda: ledger.record_ids(CASH_MOVES), check)
        refunds = day.refund_keys.look(lambda: ledger.record_ids(REFUNDS), check)
        if day.cash is not None:
            day.cash = self._cash_records(day.cash, ledger, moves, refunds)
        maybe_open = [i for i in again if i in ids and not ledger.settled(i)]
        for order in ledger.records_of(ORDERS, sorted(maybe_open)):
            if order.status == "open":
                day.open_orders[order.id] = order
        if day.places is not None:  # the orders that can have moved or taken a receipt
            for order_id in gone:
                day.places.drop(order_id)
            read = {o.id: o for o in day.open_orders.values() if o.id in again}
            rest = sorted((again & ids) - read.keys())
            for order in (*read.values(), *ledger.records_of(ORDERS, rest)):
                day.places.put(order)
        new_receipts, gone_receipts = day.receipt_keys.look(ledger.receipt_ids, check)
        for receipt_id in gone_receipts:
            day.parsed.pop(receipt_id, None)
        if day.receipts is not None:
            if gone_receipts:  # taken back by its writer: read the day again
                day.receipts = None
            else:
                for receipt in ledger.records_of(RECEIPTS, sorted(new_receipts)):
                    bisect.insort(day.receipts, (RECEIPTS.sort(receipt), receipt.id))
        day.open_shifts = ledger.open_shifts_of(self.venue.device)

    @staticmethod
    def _cash_records(
        cash: _Cash,
        ledger: Ledger,
        moves: tuple[set[str], set[str]],
        refunds: tuple[set[str], set[str]],
    ) -> _Cash:
        """Cash moves and refunds new since the last look, each (added, removed): insert-only, so
        one taken back reads the day's cash again."""
        if moves[1] or refunds[1]:
            return _Cash.read(ledger)
        for m in ledger.records_of(CASH_MOVES, sorted(moves[0] - cash.moves.keys())):
            cash.move(m.id, m.shift_id, m.amount if m.kind == "in" else -m.amount)
        for r in ledger.records_of(REFUNDS, sorted(refunds[0] - cash.refunds.keys())):
            cash.refund(r.id, r.shift_id, -r.amount if r.method == "cash" else 0)
        return cash

    def _all_fresh(self) -> list[_Day]:
        self._follow()
        return [d for d in (self._fresh(date) for date in sorted(self._days)) if d is not None]

    # --- reads ----------------------------------------------------------------------------------
    def open_orders(self) -> list[Order]:
        """The open orders of every loaded day, by day and then as ``Ledger.orders`` sorts them."""
        return [
            o
            for day in self._all_fresh()
            for o in sorted(day.open_orders.values(), key=ORDERS.sort)
        ]

    def open_shift(self) -> Shift | None:
        """This register's open shift (the oldest, as ``Venue.open_shift`` answers), if any."""
        for day in reversed(self._all_fresh()):
            if day.open_shifts:
                return day.open_shifts[0]
        device = self.venue.device  # one whose day closed (model/kept_shifts.py)
        return next((s for s in self.venue.kept_shifts.open_shifts() if s.register == device), None)

    def expected_cash(self, shift: Shift) -> int:
        """What ``shift``'s drawer should hold (``Venue.expected_cash``): each day's part is read once
        and then kept up to date record by record."""
        total = shift.opening_cash
        for day in self._all_fresh():
            if day.cash is None:
                day.cash = _Cash.read(day.ledger)
            total += day.cash.of(shift.id)
        return total + sum(p.cash for p in self._kept(shift))

    def _kept(self, shift: Shift) -> list[DayPart]:
        """The kept parts of ``shift``'s closed days (``model/kept_parts.py``)."""
        return self.venue.kept_parts.of(shift.id, self.venue.replica.names())

    def shift_report(self, shift: Shift, *, blind: bool = False) -> ShiftReport:
        """``shift``'s X or Z (``model.shift_report``), each loaded day's part read once and kept
        until that day changes: an X of a shift open for weeks reads the live day again, not every
        day since it opened (the same figures: tests/model/test_shift_parts.py)."""
        self._follow()
        parts = []
        for date in sorted(self._days, reverse=True):  # newest first, as ``Venue.ledgers``
            day = self._days[date]
            part = day.parts.get(shift.id)
            if part is None:
                part = day.parts[shift.id] = day_part(day.ledger, shift.id)
            parts.append(part)
        return report_of(shift, parts + self._kept(shift), blind=blind)

    def day_of_receipt(self, receipt_id: str) -> str | None:
        """The loaded day holding ``receipt_id``, from the ids the index keeps (no day is read)."""
        for day in self._all_fresh():
            if receipt_id in day.receipt_keys.ids:
                return day.ledger.date
        return None

    def at_table(self, date: str, name: str) -> list[Placed] | None:
        """The orders of one loaded day whose table or tab is ``name`` (any case), with their receipt
        ids (None for a day not loaded). The day's orders are read at the first ask, then kept."""
        self._follow()
        day = self._fresh(date)
        if day is None:
            return None
        if day.places is None:
            day.places = TablePlaces.of(day.ledger.records_of(ORDERS, day.orders.ids))
        return day.places.at(name)

    def receipts(self, date: str, limit: int, before: str | None = None) -> list[Receipt]:
        """Up to ``limit`` of one loaded day's receipts, newest first, older than the receipt
        ``before`` if given (none for a day not loaded; UnknownRecord for a ``before`` not in it)."""
        self._follow()
        day = self._fresh(date)
        if day is None:
            return []
        if day.receipts is None:
            day.receipts = [(RECEIPTS.sort(r), r.id) for r in day.ledger.receipts()]
        end = len(day.receipts)
        if before is not None:
            end = next((i for i, (_, r) in enumerate(day.receipts) if r == before), -1)
            if end < 0:
                raise UnknownRecord(f"no receipt {before!r} on {date} to page before")
        ids = [r for _, r in day.receipts[max(0, end - limit) : end]][::-1]
        unread = [r for r in ids if r not in day.parsed]
        if len(day.parsed) + len(unread) > RECEIPTS_KEPT:
            day.parsed = {r: day.parsed[r] for r in ids if r in day.parsed}
        for receipt in day.ledger.records_of(RECEIPTS, unread):
            day.parsed[receipt.id] = receipt  # insert-only: a receipt read once stays true
        return [day.parsed[r] for r in ids if r in day.parsed]


def _own_only(before: bytes, after: bytes, own: int) -> bool:
    """Whether a transaction added this replica's own items and nothing else (state vectors before and
    after): pycrdt reports every event of those. A deletion alone, or anything of another client, is
    not (its maps are checked at the next look)."""
    was, now = decode_state_vector(before), decode_state_vector(after)
    grown = {client for client, clock in now.items() if clock != was.get(client, 0)}
    return grown == {own}
