"""Kitchen tickets of one business day and their states, as an explicit transition table.

Registers create tickets from order lines; kitchen displays bump and recall them. State changes are
insert-only events stamped by the hybrid clock, each naming the state it moved from; the current state is
the events replayed in stamp order, each counting only when it starts from the state the ones before it
left (a void ticket's clearing always counts). So two screens bumping the same ticket at once merge to one
state instead of fighting over a field, and a move a cook made on a screen that had not heard the others
(a link down for an hour, or a second) changes nothing, rather than taking a served ticket back to
"cooking" on every screen.

Two more insert-only maps make the kitchen tell the truth (docs/architecture.md (Documents)):
``voids`` (``<order id>`` for a whole order, ``<order id>/<line id>`` for one line), written by the register
that voids, beside the void in the ledger, so a kds that holds no ledger marks it at once; a void outranks
any state. ``held`` (``<ticket id>/<kds device>``), written by each kds once it has committed the ticket:
which screens hold it, so a register can warn when a ticket it sent reached none.

**Changed** (outside, the twenty-first session): a move may name the state the screen showed (``seen``,
the API's ``from``): on one device a second move is made from where the first left the ticket, so a
double tap on "Start cooking" (or two tabs, two monitors of one kitchen display) landed as "Ready"; a
ticket that has left the state shown is :class:`~meshpos.errors.TicketMoved` (409) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map

from meshpos.errors import CorruptRecord, InvalidTransition, TicketMoved, UnknownRecord
from meshpos.model._records import (
    CorruptRegistry,
    Fields,
    JsonDict,
    lookup_key,
    parse_each,
    parse_one,
)
from meshpos.model._writes import put
from meshpos.model.clock import HybridClock, Stamp
from meshpos.model.documents import kitchen_name
from meshpos.model.ledger_types import ORDER_NUMBER_CHARS

#: the root map of a kitchen day where each screen acknowledges the tickets it holds
HELD = "held"


def held_device(key: str) -> str:
    """The screen a ``held`` key names (``<ticket id>/<kds device>``): only that screen may write it
    (checked on receipt: ``meshpos.sync._exchange``)."""
    return key.rpartition("/")[2]


STATES = ("new", "cooking", "ready", "served")
#: the states of a ticket whose food is still to hand out: it stays on the board past its day's end
BEING_MADE = STATES[:-1]

#: a void ticket's one move: bump clears it off the board (to served) from wherever it was; no recall
VOID_TRANSITIONS: dict[tuple[str, str], str] = {
    (state, "bump"): "served" for state in STATES if state != "served"
}

#: how long (ms) a register waits for some kitchen screen to hold a ticket it sent before it warns
KITCHEN_ACK_MS = 5_000

#: how long (ms) after its business day ended (its cut-off hour) a ticket not served yet stays on today's
#: board: the food ordered before the end is made by then, and a day of hundreds of tickets is not
#: read again at every board read all of the next day (docs/benchmarks.md, kitchen board)
BEING_MADE_MS = 2 * 3_600_000

# (state, action) -> next state; anything else is an illegal transition
TRANSITIONS: dict[tuple[str, str], str] = {
    ("new", "bump"): "cooking",
    ("cooking", "bump"): "ready",
    ("ready", "bump"): "served",
    ("served", "recall"): "ready",
    ("ready", "recall"): "cooking",
}


@dataclass(frozen=True, slots=True)
class TicketItem:
    line_id: str
    name: str
    quantity: int
    modifiers: tuple[str, ...]
    station: str = (
        ""  # the product's kitchen station when the ticket was made ("": the one kitchen)
    )
    void: bool = False  # the register voided this line after it was sent


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    order_id: str
    table: str
    register: str
    created_at_ms: int
    items: tuple[TicketItem, ...]
    state: str
    state_at_ms: int
    tab: str = ""  # the order's tab when it has no table
    user: str = ""  # who sent it (the waiter's user id; "" on an older node's ticket)
    void: bool = False  # the order was voided: nothing more to cook
    held_by: tuple[str, ...] = ()  # the kitchen screens that acknowledged it, sorted
    bill: str = ""  # the order is a bill split off another (several bills share one table)

    def age_ms(self, now_ms: int) -> int:
        return max(now_ms - self.created_at_ms, 0)

    @property
    def label(self) -> str:
        """What the kitchen calls it: its table, its tab, or its order's number; a bill split off an
        order says so with its number, since it shares the table with the order's other bills."""
        bill = f" · bill #{self.order_id[:ORDER_NUMBER_CHARS]}" if self.bill else ""
        if self.table:
            return f"Table {self.table}{bill}"
        if self.tab:
            return f"Tab {self.tab}{bill}"
        return f"Order #{self.order_id[:6]}"

    def unheld(self) -> bool:
        """Sent, still to cook, and no kitchen screen said it holds it (the silent kitchen)."""
        return not self.held_by and not self.void and self.state != "served"

    def lost(self, now_ms: int) -> bool:
        """Unheld for ``KITCHEN_ACK_MS``: the register warns. Missing word of a screen counts as no screen:
        the warning is never more optimistic than the truth."""
        return self.unheld() and self.age_ms(now_ms) >= KITCHEN_ACK_MS


class Kitchen:
    def __init__(self, doc: Doc[Any], date: str, corrupt: CorruptRegistry | None = None) -> None:
        """``corrupt``: where reads note the tickets and events they skip; None makes them strict."""
        self.corrupt = corrupt
        self.doc = doc
        self.date = date
        self.name = kitchen_name(date)
        self._tickets = doc.get("tickets", type=Map)
        self._events = doc.get("events", type=Map)
        self._voids = doc.get("voids", type=Map)
        self._held = doc.get(HELD, type=Map)

    def write_ticket(self, ticket_id: str, record: JsonDict) -> None:
        put(self._tickets, ticket_id, record, f"{self.name} tickets/{ticket_id}")

    def void(self, order_id: str, line_id: str | None, record: JsonDict) -> None:
        """Mark an order (``line_id`` None) or one of its lines void on every screen. Insert-only: two
        registers voiding at once write the same fact, so whichever value stays says the same."""
        key = order_id if line_id is None else f"{order_id}/{line_id}"
        if key not in self._voids:
            put(self._voids, key, record, f"{self.name} voids/{key}")

    def acknowledge(self, device: str, now_ms: int) -> int:
        """Record that kds ``device`` holds every ticket it has (call it once they are committed, so the
        register is never told more than the truth); answers how many it acknowledged now."""
        missing = self.unheld(device)
        for ticket_id in missing:
            key = f"{ticket_id}/{device}"
            put(self._held, key, {"at": now_ms}, f"{self.name} held/{key}")
        return len(missing)

    def unheld(self, device: str) -> list[str]:
        """The tickets kds ``device`` has not acknowledged yet (a look, no write)."""
        return [t for t in self._tickets if f"{t}/{device}" not in self._held]

    def has(self, ticket_id: str) -> bool:
        return lookup_key(ticket_id, "ticket id") in self._tickets

    def _state(
        self, ticket_id: str, void: bool, events: list[tuple[str, Any]] | None = None
    ) -> tuple[str, Stamp | None, Stamp | None]:
        """The ticket's state, the stamp of the move that set it, and its latest event's stamp (which
        the next move must sort after). ``events``: the ticket's, when the caller grouped them already
        (``_by_ticket``). With a registry a corrupt event is skipped."""
        if events is None:
            events = [(k, v) for k, v in self._events.items() if k.startswith(ticket_id + "/")]
        moves = sorted(  # by stamp, then key: the same order on every device, whatever a peer wrote
            parse_each(events, self._event, doc=self.name, root="events", corrupt=self.corrupt),
            key=lambda move: move[:2],
        )
        state, at = "new", None
        for stamp, _, start, to in moves:
            # a move counts from the state it was made in; one without ``from`` (none is written so)
            # counts as it did; clearing a void ticket off the board always counts
            if start in (state, None) or (void and to == "served"):
                state, at = to, stamp
        return state, at, moves[-1][0] if moves else None

    def _by_ticket(self) -> dict[str, list[tuple[str, Any]]]:
        """ticket id -> its events, in one pass over ``events``: a board reads every ticket, and a scan
        of every event for each ticket made a board read grow with the square of the day's tickets
        (1,000 tickets of 3 moves each: ~16 s of CPU on the loop, at every kitchen change a register
        page re-reads its unheld tickets)."""
        found: dict[str, list[tuple[str, Any]]] = {}
        for key, value in self._events.items():
            found.setdefault(key.rpartition("/")[0], []).append((key, value))
        return found

    def _event(self, key: str, value: object) -> tuple[Stamp, str, str | None, str]:
        f = Fields(value, f"{self.name} events/{key}")
        start = f.opt_text("from")
        if start is not None and start not in STATES:
            raise CorruptRecord(f"{f.where}: field 'from' is {start!r}, expected one of {STATES}")
        stamp = Stamp.decode(f.text("stamp"), f"{f.where} stamp")
        return stamp, key, start, f.choice("to", STATES)

    def ticket(self, ticket_id: str) -> Ticket:
        lookup_key(ticket_id, "ticket id")
        return parse_one(
            f"tickets/{ticket_id}",
            lambda: self._ticket(ticket_id),
            doc=self.name,
            corrupt=self.corrupt,
        )

    def _holders(self) -> dict[str, list[str]]:
        """ticket id -> the screens that hold it, in one pass over ``held`` (a board reads every ticket)."""
        found: dict[str, list[str]] = {}
        for key in self._held:
            ticket_id, _, device = key.rpartition("/")
            found.setdefault(ticket_id, []).append(device)
        return found

    def _ticket(
        self,
        ticket_id: str,
        holders: dict[str, list[str]] | None = None,
        events: dict[str, list[tuple[str, Any]]] | None = None,
    ) -> Ticket:
        raw = self._tickets.get(ticket_id)
        if raw is None:
            raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")
        f = Fields(raw, f"{self.name} tickets/{ticket_id}")
        order_id = f.text("order_id")
        items = tuple(
            TicketItem(
                i.text("line_id"),
                i.text("name"),
                i.quantity("quantity"),
                tuple(str(m) for m in i.array("modifiers")),
                i.opt_text("station") or "",
                f"{order_id}/{i.text('line_id')}" in self._voids,
            )
            for i in f.records("items")
        )
        created = f.integer("at")
        void = order_id in self._voids or all(i.void for i in items)
        mine = None if events is None else events.get(ticket_id, [])
        state, stamp, _ = self._state(ticket_id, void, mine)
        if holders is None:
            prefix = ticket_id + "/"
            held = [k[len(prefix) :] for k in self._held if k.startswith(prefix)]
        else:
            held = holders.get(ticket_id, [])
        return Ticket(
            ticket_id,
            order_id,
            f.opt_text("table") or "",
            f.text("register"),
            created,
            items,
            state,
            stamp.wall_ms if stamp else created,
            tab=f.opt_text("tab") or "",
            user=f.opt_text("user") or "",
            void=void,
            held_by=tuple(sorted(held)),
            bill=f.opt_text("bill") or "",
        )

    def tickets(self, states: tuple[str, ...] = STATES) -> list[Ticket]:
        holders, events = self._holders(), self._by_ticket()
        found = parse_each(
            ((k, k) for k in self._tickets),
            lambda k, _: self._ticket(k, holders, events),
            doc=self.name,
            root="tickets",
            corrupt=self.corrupt,
        )
        return sorted(
            (t for t in found if t.state in states), key=lambda t: (t.created_at_ms, t.id)
        )

    def act(
        self,
        ticket_id: str,
        action: str,
        *,
        user: str,
        device: str,
        clock: HybridClock,
        now_ms: int,
        seen: str = "",
    ) -> Ticket:
        """Move the ticket by ``action``; ``seen``: the state the caller showed it in ("" for any):
        a ticket that has left it is :class:`TicketMoved` and nothing is written."""
        if ticket_id not in self._tickets:
            raise UnknownRecord(f"unknown kitchen ticket {ticket_id!r}")
        void = self.ticket(ticket_id).void
        current, _, stamp = self._state(ticket_id, void)
        if seen and seen != current:
            raise TicketMoved(
                f"ticket {ticket_id} is {current} now, not {seen} as the screen showed it: it was "
                f"moved meanwhile, so this {action} changed nothing (look at the board again)"
            )
        if void:  # nothing to cook: the one move clears it off the board
            target = VOID_TRANSITIONS.get((current, action))
            if target is None:
                raise InvalidTransition(
                    f"ticket {ticket_id}: a void ticket can only be cleared, not {action}ed"
                )
        else:
            target = TRANSITIONS.get((current, action))
        if target is None:
            raise InvalidTransition(
                f"ticket {ticket_id}: cannot {action} a ticket that is {current}"
            )
        if stamp is not None:
            clock.observe(stamp)
        new_stamp = clock.now(now_ms)
        key = f"{ticket_id}/{new_stamp.encode()}"
        put(
            self._events,
            key,
            {
                "action": action,
                "from": current,
                "to": target,
                "user": user,
                "device": device,
                "stamp": new_stamp.encode(),
            },
            f"{self.name} events/{key}",
        )
        return self.ticket(ticket_id)
