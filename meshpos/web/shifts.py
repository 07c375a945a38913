"""Cash shifts of this register: open, close with the counted drawer (plain, or with a Z report that also
ends the business day after the last shift), X reports, "no sale" drawer openings, cash in and out; manual
stock moves.

Under the venue's blind count (catalog settings ``blind_count``) nothing a cashier reads before counting
shows what the drawer should hold: the current shift's ``expected_cash`` and an X report's
``drawer_expected`` are null; the close answers (and a Z) show it, once counted.

**Changed** (ownday, the twenty-first session): a close, a Z, a cash move and a "no sale" load the
shift's own day first when it closed while the shift is open (``model/kept_shifts.py``).
"""

from __future__ import annotations

from meshpos.errors import DayDropped, UnknownRecord
from meshpos.httpapi.routes import Field, Route, choice, text
from meshpos.httpapi.server import HttpError
from meshpos.model import CashMove, InventoryMove, Shift
from meshpos.model.day_end import records_key, shift_key
from meshpos.model.documents import ledger_name
from meshpos.model.ledger_types import CASH_MOVE_KINDS, MANUAL_INVENTORY_KINDS, NoSale
from meshpos.model.limits import MAX_AMOUNT, MAX_ID_CHARS, MAX_NOTE_CHARS, MAX_QUANTITY
from meshpos.model.shift_report import ShiftReport, ZReport, close_with_z
from meshpos.web.approval import APPROVAL_DOC, APPROVER, approver
from meshpos.web.routes import USER, Call, day_query
from meshpos.web.views import ShiftView

BLIND_DOC = "null while the venue's blind count is on (catalog settings `blind_count`)"


async def current_shift(c: Call) -> ShiftView:
    node = c.node
    shift = node.current_shift()
    blind = node.catalog().settings().blind_count
    return ShiftView(shift, node.expected_cash(shift) if shift and not blind else None)


def _open_shift(c: Call) -> Shift:
    shift = c.node.current_shift()
    if shift is None:
        raise HttpError(409, "shift_closed", f"register {c.node.node_id} has no open shift")
    return shift


async def current_report(c: Call) -> ShiftReport:
    return c.node.shift_report(_open_shift(c).id)


async def _load_days_of_shift(c: Call, shift_id: str) -> None:
    """Load every closed business day a shift's records may be on (docs/architecture.md (Documents)).

    The shift is found on a loaded day, else on the closed day indexed under it (``shift_key``: days
    closed since shifts were indexed), else on ``?date=`` (a day closed before). Its sales, payments,
    refunds and cash moves are on the days from the one it opened on to the one it closed on (today's
    while open): a shift across the cut-off hour has records on two. Its refunds of older receipts are on
    those receipts' days: an earlier closed day indexed under ``records_key`` is loaded too (outside,
    sixth round; the twentieth session).

    **Changed** (shifts, the twenty-first session): a closed day whose part of the shift's figures
    is kept and true (``KeptParts.holds``: a day that closed while the shift was open) is not loaded:
    the report adds its part, as the live X does. A reprint of a shift open for weeks loaded every
    day of it (~9 MB a day of 1,000 sales); it loads the day holding the shift's record, and any day
    of its span without a true part (closed after the shift, or by a release without parts).

    **Changed** (reprint, the twenty-second session): a closed shift's record is kept as its day
    closes, and a day of its span closed after it keeps its part (``model/day_keeping.py``): a
    reprint of a closed shift loads no day, unless a kept record is damaged, stale or missing (a day
    closed by the release before), when it loads the day as before."""
    node = c.node
    try:
        shift = node.shift(shift_id)
    except UnknownRecord:
        if not await node.open_day_of(shift_key(shift_id)) and c.query["date"]:
            await node.open_day(c.query["date"])
        shift = node.shift(shift_id)
    first = node.business_date(shift.opened_at_ms)
    last = node.business_date(shift.close.closed_at_ms if shift.close else node.now_ms())
    held = node.days()
    for date in held.dropped:  # (issue 18, keep) a report without that day would be short
        if first <= date <= last:
            raise DayDropped(ledger_name(date), date)
    for date in held.closed:
        if node.kept_part(shift_id, date):
            continue  # its part is read instead (model/kept_parts.py)
        if first <= date <= last:
            await node.open_day(date)  # closes again by the usual rule
        elif date < first:  # a day holding its refund of an older receipt
            await node.open_day_of(records_key(shift_id, date))


async def shift_report(c: Call) -> ShiftReport:
    shift_id = c.params["shift_id"]
    try:
        await _load_days_of_shift(c, shift_id)
        return c.node.shift_report(shift_id)
    except UnknownRecord as exc:
        dropped = c.node.days().dropped
        also = (
            f" (this register dropped business days up to {dropped[-1]} after keep_days: an "
            "older shift's report is at the console)"
            if dropped
            else ""
        )
        raise HttpError(404, "unknown_shift", exc.message + also) from None


async def close_z(c: Call) -> ZReport:
    await c.node.load_shift_day()  # (its own day: model/kept_shifts.py)
    user, cash = c.body["user"], c.body["counted_cash"]
    return await c.node.write(lambda venue, now: close_with_z(venue, user, cash, now))


async def no_sale(c: Call) -> NoSale:
    user, reason = c.body["user"], c.body["reason"]
    by = await approver(c, "cash")
    await c.node.load_shift_day()  # (its own day: model/kept_shifts.py)
    return await c.node.write(lambda venue, now: venue.no_sale(user, reason, now, approved_by=by))


async def list_no_sales(c: Call) -> list[NoSale]:
    node = c.node
    date = c.query["date"] or node.business_date(node.now_ms())
    await node.open_day(date)  # a closed day is loaded for the read; it closes again by the rule
    return node.no_sales(date)


async def open_shift(c: Call) -> Shift:
    user, cash = c.body["user"], c.body["opening_cash"]
    return await c.node.write(lambda venue, now: venue.open_shift_now(user, cash, now))


async def close_shift(c: Call) -> Shift:
    await c.node.load_shift_day()  # (its own day: model/kept_shifts.py)
    user, cash = c.body["user"], c.body["counted_cash"]
    return await c.node.write(lambda venue, now: venue.close_shift(user, cash, now))


async def cash_move(c: Call) -> CashMove:
    b = c.body
    await c.node.load_shift_day()  # (its own day: model/kept_shifts.py)
    return await c.node.write(
        lambda venue, now: venue.cash_move(b["user"], b["kind"], b["amount"], b["reason"], now)
    )


async def inventory_move(c: Call) -> InventoryMove:
    b = c.body
    return await c.node.write(
        lambda venue, now: venue.inventory_move(
            b["user"], b["product_id"], b["kind"], b["quantity"], now, b["reason"]
        )
    )


COUNTED = Field("counted_cash", int, "cash counted in the drawer", minimum=0, maximum=MAX_AMOUNT)
ROUTES = (
    Route(
        "GET",
        "/api/shifts/current",
        current_shift,
        "This register's open shift and the cash its drawer should hold",
        ShiftView,
        tag="shift",
        description=f"`expected_cash` is {BLIND_DOC}.",
    ),
    Route(
        "GET",
        "/api/shifts/current/report",
        current_report,
        "X report: this register's open shift so far (409 shift_closed without one)",
        ShiftReport,
        tag="shift",
        errors=(409,),
        description=(
            "The figures of the console's shift report (Reports -> Shifts) for the same shift, under "
            f"the same names, with the no-sale openings. `drawer_expected` is {BLIND_DOC}."
        ),
    ),
    Route(
        "GET",
        "/api/shifts/{shift_id}/report",
        shift_report,
        "X report of an open shift or Z report of a closed one, of any register, its closed days "
        "loaded for the read",
        ShiftReport,
        query=(
            day_query(
                "the business day the shift opened on (YYYY-MM-DD): needed only for a shift of a "
                "day closed by release 0.2.0 or earlier, which did not index days by shift"
            ),
        ),
        tag="shift",
        errors=(404,),
        description=(
            "A shift on a closed business day is found by its id: that day and every closed day up "
            "to the one the shift closed on are loaded (a shift across the cut-off hour has sales on "
            "two), and close again by the usual rule, except a day whose part of the shift's figures "
            "was kept as it closed (it is added; docs/architecture.md (Documents))."
        ),
    ),
    Route(
        "POST",
        "/api/shifts/current/z",
        close_z,
        "Z report: close this register's shift with the counted cash and, when it was the venue's "
        "last open shift, end the business day (as POST /api/day/close does)",
        ZReport,
        body=(USER, COUNTED),
        tag="shift",
        description=(
            "Refused like a plain close while the shift has open orders (nothing is closed). The "
            "shift closes whatever the day does: `day` is the day ended, or null with `day_open` "
            "saying why not (another shift is open, an order elsewhere is open, or the user lacks "
            "the end_day right: a manager then ends it with POST /api/day/close; or the shift's "
            "day already passed its cut-off hour, and today's is left open)."
        ),
    ),
    Route(
        "POST",
        "/api/shifts/current/no-sales",
        no_sale,
        'Record a "no sale" opening of the drawer (needs the cash right)',
        NoSale,
        body=(
            USER,
            text("reason", MAX_NOTE_CHARS, "why the drawer was opened", default=""),
            *APPROVER,
        ),
        status=201,
        tag="shift",
        description=APPROVAL_DOC,
        limited=True,
    ),
    Route(
        "GET",
        "/api/no-sales",
        list_no_sales,
        'The "no sale" drawer openings of one business day (today by default), oldest first',
        list[NoSale],
        query=(day_query("business date YYYY-MM-DD; default: today's"),),
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts",
        open_shift,
        "Open a shift on this register with the cash counted into the drawer",
        Shift,
        body=(
            USER,
            Field(
                "opening_cash",
                int,
                "cash in the drawer at the start",
                minimum=0,
                maximum=MAX_AMOUNT,
            ),
        ),
        status=201,
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts/current/close",
        close_shift,
        "Close this register's shift with the counted cash (refused while it has open orders)",
        Shift,
        body=(USER, COUNTED),
        tag="shift",
    ),
    Route(
        "POST",
        "/api/shifts/current/cash-moves",
        cash_move,
        "Put cash into the drawer or take it out",
        CashMove,
        body=(
            USER,
            Field("kind", choice(*CASH_MOVE_KINDS), "in: into the drawer; out: taken from it"),
            Field("amount", int, "how much", minimum=1, maximum=MAX_AMOUNT),
            text("reason", MAX_NOTE_CHARS, "why", default=""),
        ),
        status=201,
        tag="shift",
    ),
    Route(
        "POST",
        "/api/inventory",
        inventory_move,
        "Record a write-off or a supply of a product (needs the inventory right)",
        InventoryMove,
        body=(
            USER,
            text("product_id", MAX_ID_CHARS, "a product id"),
            Field("kind", choice(*MANUAL_INVENTORY_KINDS), "which way stock moved"),
            Field("quantity", int, "how many", minimum=1, maximum=MAX_QUANTITY),
            text("reason", MAX_NOTE_CHARS, "why", default=""),
        ),
        status=201,
        tag="shift",
    ),
)
