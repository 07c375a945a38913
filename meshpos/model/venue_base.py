"""What every Venue operation stands on: the documents, the reads, the guards and the checks of inputs.

The operations themselves are grouped by concern (``venue_orders``: orders and the kitchen;
``venue_money``: shifts, cash, payments, receipts, refunds and stock) and composed into
:class:`meshpos.model.venue.Venue`. Each checks its inputs at entry (every text against ``limits``, naming
the field), validates completely, and then writes; its writes complete together or are taken back together
whatever raises (``_writes.all_or_nothing``), so an error changes nothing. Time (``now_ms``) and ids come in
from the caller; the model reads no clocks. See docs/architecture.md (Model).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidAmount,
    InvalidQuantity,
    OrderNotOpen,
    PermissionDenied,
    RecordUnusable,
    ShiftClosed,
    UnknownRecord,
)
from meshpos.model._records import CorruptEntry, CorruptRegistry, lookup_key
from meshpos.model._writes import all_or_nothing
from meshpos.model.catalog import Catalog
from meshpos.model.clock import HybridClock
from meshpos.model.day_end import DayEnds, next_open_day
from meshpos.model.documents import CATALOG, STOPLIST, day_of, is_ledger, kitchen_name, ledger_name
from meshpos.model.ids import new_record_id
from meshpos.model.kept_parts import KeptParts
from meshpos.model.kept_shifts import KeptShifts
from meshpos.model.kitchen import BEING_MADE, BEING_MADE_MS, Kitchen, Ticket
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import Conflict, Order, Payment, Receipt, Shift
from meshpos.model.limits import MAX_AMOUNT, MAX_NOTE_CHARS, MAX_QUANTITY, check_text
from meshpos.model.numbering import NUMBERS_DOCUMENT, ReceiptNumbering
from meshpos.model.refund_tenders import Tender, receipt_tenders
from meshpos.model.replica import Replica
from meshpos.model.roles import ROLES
from meshpos.model.stoplist import StopList

P = ParamSpec("P")
R = TypeVar("R")


def operation(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A Venue operation: all its writes or none of them (see ``_writes``); a record it needs that is
    corrupt refuses the operation as :class:`RecordUnusable` (a rule, not a crash)."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                with all_or_nothing(what):
                    return method(*args, **kwargs)
            except RecordUnusable:
                raise
            except CorruptRecord as exc:
                raise RecordUnusable(
                    f"cannot {what}: {exc.message} (the record is listed as corrupt; nothing was written)"
                ) from exc

        return run

    return wrap


id_of = lookup_key


def note(value: object, what: str) -> str:
    return check_text(value, what, MAX_NOTE_CHARS)


def approval(approved_by: str) -> dict[str, str]:
    """The field a record gets when a user holding the right approved a cashier's action on the spot."""
    return {"approved_by": approved_by} if approved_by else {}


def unless_empty(**fields: object) -> dict[str, object]:
    """The fields that hold something: an empty text or list, or a None, is left out of the record.

    Only for fields every reader (of this release and the one before) takes missing as empty
    (``opt_text``, ``array``, ``opt_record``): each byte of a record goes to every other device
    (issue 18; docs/architecture.md (Model))."""
    return {k: v for k, v in fields.items() if v is not None and v != "" and v != []}


@dataclass(frozen=True, slots=True)
class PaymentResult:
    payment: Payment
    change: int
    receipt: Receipt | None  # issued when this payment completed the order


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"venue setting timezone {name!r} is not a known time zone") from None


def business_date(now_ms: int, timezone: str = "UTC", cutoff_hour: int = 4) -> str:
    """The business day a moment belongs to: sales at 01:30 count for the evening before."""
    # Straight into the zone: ``fromtimestamp(..., tz=UTC).astimezone(zone)`` leaves a few objects
    # alive per hour of calls inside CPython's zoneinfo, made throughout a day of sales, so they pin
    # the memory of a closed day (docs/benchmarks.md, leak).
    local = datetime.fromtimestamp(now_ms / 1000, tz=_zone(timezone))
    return (local - timedelta(hours=cutoff_hour)).date().isoformat()


def count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{what} must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidQuantity(f"{what} must be between 1 and {MAX_QUANTITY}, got {value}")
    return value


def money(value: object, what: str, *, allow_zero: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"{what} must be an integer number of minor units (cents), got {value!r}"
        )
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        raise InvalidAmount(
            f"{what} must be {'at least 0' if allow_zero else 'positive'} and sane, got {value}"
        )
    return value


class VenueBase:
    """The documents, reads and guards of one device's venue; the operations are in the subclasses."""

    def __init__(
        self,
        replica: Replica,
        *,
        device: str,
        role: str = "register",
        clock: HybridClock | None = None,
        receipt_seq: int = 0,
        receipt_numbers_known: bool = True,
        receipt_series: str = "",
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if role not in ROLES:
            raise DomainError(f"unknown device role {role!r}")
        self.replica = replica
        self.device = device
        self.role = role
        self.clock = clock or HybridClock(device)
        self._new_id = new_id or new_record_id
        self._corrupt = CorruptRegistry()
        self.catalog = Catalog(replica.doc(CATALOG))
        self.stoplist = StopList(replica.doc(STOPLIST), corrupt=self._corrupt)
        self._ledgers: dict[str, Ledger] = {}
        # the parts of closed days in open shifts' figures (model/kept_parts.py; the node sets its own)
        self.kept_parts = KeptParts()
        # open shifts of closed days (model/kept_shifts.py; the node sets its own)
        self.kept_shifts = KeptShifts()
        # ``ledgers()`` as last answered, for the replica and its generation it was answered for
        self._ledger_list: tuple[Replica, int, list[Ledger]] | None = None
        self.numbering = ReceiptNumbering(
            replica.doc(NUMBERS_DOCUMENT),
            device,
            seq=receipt_seq,
            known=receipt_numbers_known,
            tag=receipt_series,
        )
        self.numbering.catch_up(self.ledgers())
        self.day_ends = DayEnds(replica.doc(STOPLIST))  # days a manager ended early

    @property
    def receipt_seq(self) -> int:
        """The last sequence this register issued (or learned) in its current number series."""
        return self.numbering.seq

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        """A new catalog (clear cache brings one) reports its corrupt records here too."""
        catalog.corrupt = self._corrupt
        self._catalog = catalog

    def corrupt_records(self) -> list[CorruptEntry]:
        """The records this device's reads skipped because they do not parse (a peer or a bug wrote
        them): each once, with its document, key and reason. The register shows them as an alarm."""
        return self._corrupt.entries()

    def corrupt_count(self) -> int:
        return len(self._corrupt)

    # --- documents ------------------------------------------------------------------------------
    def business_date(self, now_ms: int) -> str:
        """The business day a sale at ``now_ms`` goes to: by the venue's cut-off, or the next day
        not ended early (``Venue.end_day``)."""
        settings = self.catalog.settings()
        by_clock = business_date(now_ms, settings.timezone, settings.day_cutoff_hour)
        return next_open_day(by_clock, self.day_ends.ended)

    def zone(self) -> ZoneInfo:
        """The venue's time zone (its settings'), in which its people read a time of day."""
        return _zone(self.catalog.settings().timezone)

    def forget_day(self, date: str) -> None:
        """Drop what this venue keeps of a business day whose documents were closed (unloaded):
        nothing here may keep its document alive."""
        self._ledgers.pop(date, None)
        self._ledger_list = None

    def ledger(self, date: str) -> Ledger:
        doc = self.replica.doc(ledger_name(date))
        cached = self._ledgers.get(date)
        if cached is None or cached.doc is not doc:  # a cleared cache brings a new Doc
            cached = self._ledgers[date] = Ledger(doc, date, corrupt=self._corrupt)
        return cached

    def kitchen(self, date: str) -> Kitchen:
        return Kitchen(self.replica.doc(kitchen_name(date)), date, corrupt=self._corrupt)

    def tickets_being_made(
        self, date: str, now_ms: int, states: tuple[str, ...] = BEING_MADE
    ) -> list[Ticket]:
        """The tickets of past business day ``date`` not served yet (of ``states``), while its cut-off
        passed less than ``BEING_MADE_MS`` before ``now_ms`` (an early end is before its cut-off):
        food ordered before the day ended is still being made, so they stay on today's board and keep
        their day loaded (``register.days``). None after: forgotten, not cooking, and a past day of
        hundreds of tickets is not read again at every board read (docs/architecture.md (Documents))."""
        making = tuple(s for s in states if s in BEING_MADE)
        if not making or kitchen_name(date) not in self.replica.names():
            return []  # reading a day that is not loaded would create an empty document for it
        settings = self.catalog.settings()
        then = business_date(now_ms - BEING_MADE_MS, settings.timezone, settings.day_cutoff_hour)
        return self.kitchen(date).tickets(making) if then <= date else []

    def ledgers(self) -> list[Ledger]:
        """The ledger days loaded in memory, newest first.

        **Changed** (issue 18, cpu): kept while the replica holds the same documents
        (``Replica.generation``; a forgotten day drops it too): a sale asked a dozen times, each time
        filtering and sorting every document's name, 5 % of its Python calls on its register. Each
        caller gets a list of its own."""
        replica, kept = self.replica, self._ledger_list
        if kept is not None and kept[0] is replica and kept[1] == replica.generation:
            return list(kept[2])
        names = filter(is_ledger, replica.names())
        found = [self.ledger(day_of(n)) for n in sorted(names, reverse=True)]
        self._ledger_list = (replica, replica.generation, found)
        return list(found)

    def _ledger_holding(self, what: str, key: str, holds: Callable[[Ledger, str], bool]) -> Ledger:
        for ledger in self.ledgers():
            if holds(ledger, key):
                return ledger
        raise UnknownRecord(f"unknown {what} {key!r}")

    def _ledger_of_order(self, order_id: str) -> Ledger:
        return self._ledger_holding("order", order_id, Ledger.has_order)

    def _ledger_of_receipt(self, receipt_id: str) -> Ledger:
        return self._ledger_holding("receipt", receipt_id, Ledger.has_receipt)

    def _ledger_of_shift(self, shift_id: str) -> Ledger:
        return self._ledger_holding("shift", shift_id, Ledger.has_shift)

    # --- reads ----------------------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        return self._ledger_of_order(id_of(order_id, "order id")).order(order_id)

    def receipt(self, receipt_id: str) -> Receipt:
        return self._ledger_of_receipt(id_of(receipt_id, "receipt id")).receipt(receipt_id)

    def shift(self, shift_id: str) -> Shift:
        """A loaded day's shift, else a kept one of a closed day (``model/kept_shifts.py``: an open
        one, or a closed one made at its day's close: **changed**, reprint, the twenty-second
        session)."""
        try:
            return self._ledger_of_shift(id_of(shift_id, "shift id")).shift(shift_id)
        except UnknownRecord:
            kept = self.kept_shifts.shift(shift_id)
            if kept is None:
                raise
            return kept

    def open_shift(self, register: str | None = None) -> Shift | None:
        """``register``'s open shift: of a loaded day, else of a closed day whose record is kept
        (**changed**, ownday, the twenty-first session: the day a shift opened on closes while it is
        open, ``model/kept_shifts.py``)."""
        register = register or self.device
        for ledger in self.ledgers():
            for shift in ledger.open_shifts_of(register):
                return shift
        for shift in self.kept_shifts.open_shifts():
            if shift.register == register:
                return shift
        return None

    def open_shifts(self) -> list[Shift]:
        """Every open shift this device knows of: of its loaded days, and those kept of closed days
        (``model/kept_shifts.py``): what a day's end, a last Z and the closer must not overlook."""
        found = [s for ledger in self.ledgers() for s in ledger.shifts() if s.is_open]
        loaded = {s.id for s in found}
        return found + [s for s in self.kept_shifts.open_shifts() if s.id not in loaded]

    def expected_cash(self, shift: Shift) -> int:
        """The loaded days' cash of ``shift`` and the kept parts of its closed days (**changed**,
        shiftsum, the twentieth session: such a day closes while the shift is open)."""
        kept = sum(p.cash for p in self.kept_parts.of(shift.id, self.replica.names()))
        return (
            shift.opening_cash + kept + sum(ledger.cash_flow(shift.id) for ledger in self.ledgers())
        )

    def refunded_quantities(self, receipt_id: str) -> dict[str, int]:
        done: dict[str, int] = {}
        for refund in self._ledger_of_receipt(receipt_id).refunds(receipt_id):
            for line in refund.lines:
                done[line.line_id] = done.get(line.line_id, 0) + line.quantity
        return done

    def tenders(self, receipt_id: str) -> tuple[Tender, ...]:
        """The receipt's tenders, what each paid and gave back (``model.refund_tenders``)."""
        ledger = self._ledger_of_receipt(id_of(receipt_id, "receipt id"))
        receipt = ledger.receipt(receipt_id)
        return receipt_tenders(
            receipt, self._payments_of(ledger, receipt), ledger.refunds(receipt_id)
        )

    @staticmethod
    def _payments_of(ledger: Ledger, receipt: Receipt) -> tuple[Payment, ...]:
        """The receipt's payments; none when its order cannot be read (the refund rule then knows no
        tender, and asks for a non-cash method)."""
        try:
            return ledger.order(receipt.order_id).payments
        except CorruptRecord:
            return ()

    def conflicts(self) -> list[Conflict]:
        return [c for ledger in self.ledgers() for c in ledger.conflicts()]

    def user_name(self, user: str) -> str:
        """A user's name for a message (the id if the catalog does not know it)."""
        try:
            return self.catalog.user(user).name
        except (UnknownRecord, CorruptRecord):
            return user

    # --- guards ---------------------------------------------------------------------------------
    def _as_register(self, user: str, right: str, approved_by: str = "") -> Shift | None:
        """``approved_by``: a user holding ``right`` who approved the action on the spot (the node's
        web layer checked their PIN); the cashier ``user`` then need not hold it."""
        id_of(user, "user")
        if self.role != "register":
            raise PermissionDenied(
                f"a {self.role} device may not write money records (orders, payments, shifts)"
            )
        # a new database has not learned its numbers, open shift or orders yet: no money record at all
        self.numbering.require_known()
        self.require(user, right, approved_by)
        return self.open_shift()

    def require(self, user: str, right: str, approved_by: str = "") -> None:
        """PermissionDenied unless ``user`` holds ``right`` or ``approved_by`` (when given) does."""
        if approved_by:
            id_of(approved_by, "approving user")
            self.catalog.user(user)  # the cashier must still be a user of the venue
            self.catalog.require(approved_by, right)
        else:
            self.catalog.require(user, right)

    def _register_shift(self, user: str, right: str, approved_by: str = "") -> Shift:
        shift = self._as_register(user, right, approved_by)
        if shift is None:
            raise ShiftClosed(f"register {self.device} has no open shift: open a shift first")
        return shift

    def _open_order(self, order_id: str) -> tuple[Ledger, Order]:
        ledger = self._ledger_of_order(order_id)
        order = ledger.order(order_id)
        if order.status != "open":  # in the cashier's words: the table, tab or the page's number
            raise OrderNotOpen(f"{order.words} is {order.status} already")
        return ledger, order
