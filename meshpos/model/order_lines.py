"""An order's lines from its record: each line parsed on its own, so a bad one can be left out.

A malicious or broken enrolled device can write a line record that does not parse into any order. Read
strictly (the console's materialiser: it must not compute a day from a part of it) that makes the order
corrupt; read with a corrupt-record registry (a node) the line alone is left out of the order and its
totals, named on the order (``Order.unreadable_lines``, the page shows it) and listed as a corrupt record
(the alarm), and the order stays usable: add, pay, void (docs/architecture.md (Model)).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from meshpos.errors import CorruptRecord
from meshpos.model._records import MAX_REASON_CHARS, Fields, remember
from meshpos.model.catalog import DISCOUNT_KINDS
from meshpos.model.ledger_types import Line, LineModifier, Order, UnreadableLine
from meshpos.model.totals import LineAmount, order_totals, price_lines

# order id -> line id -> (its text, its parse): the last MAX_REMEMBERED orders read, each with all its
# lines (``_line``)
_LINES: dict[str, dict[str, tuple[str, Line]]] = {}
# order id -> line id -> (the line, its amount with no order discount): ``line_amounts``
_AMOUNTS: dict[str, dict[str, tuple[Line, LineAmount]]] = {}


def parse_line(order_id: str, line_id: str, f: Fields) -> Line:
    discount = f.opt_record("discount")
    return Line(
        id=line_id,
        order_id=order_id,
        product_id=f.text("product_id"),
        name=f.text("name"),
        quantity=f.quantity("quantity"),
        unit_price=f.integer("unit_price"),
        modifiers=tuple(
            LineModifier(m.text("id"), m.text("name"), m.integer("price_delta"))
            for m in f.records("modifiers")
        ),
        tax_rate_bp=f.integer("tax_rate_bp"),
        tax_included=f.flag("tax_included"),
        discount_id=discount.text("id") if discount else None,
        discount_kind=discount.choice("kind", DISCOUNT_KINDS) if discount else None,
        discount_value=discount.integer("value") if discount else 0,
        user=f.text("user"),
        device=f.text("device"),
        at_ms=f.integer("at"),
        stamp=f.text("stamp"),
        replaces=f.opt_text("replaces") or "",
        split_from=f.opt_text("split_from") or "",
        split_with=f.opt_text("split_with") or "",
        approved_by=f.opt_text("approved_by") or "",
    )


def parse_lines(
    order_id: str,
    raw: Mapping[str, Any],
    removed: Collection[str],
    where: str,
    unreadable: list[tuple[str, CorruptRecord]] | None,
) -> list[Line]:
    """The order's active lines, oldest first; with ``unreadable`` a line that does not parse is added
    there instead of making the order corrupt."""
    parsed: list[Line] = []
    for k, v in raw.items():
        if k in removed:
            continue
        try:
            parsed.append(_line(order_id, k, v, where))
        except CorruptRecord as exc:
            if unreadable is None:
                raise
            unreadable.append((k, exc))
    return sorted(latest_replacements(parsed), key=entry_order)


def entry_order(line: Line) -> tuple[str, str]:
    """Where a line stands on its order: by its stamp (the cashier's entry order), then its id."""
    return line.stamp, line.id


def _line(order_id: str, line_id: str, value: object, where: str) -> Line:
    """A line from its record, kept by its JSON text: a line is an insert-only text, so the same text
    parses the same (``_records.remember``); each tap reads its order again with the lines it had
    (issue 18). A line that does not parse raises every time. **Changed** (issue 18, sale): kept per
    order, every line of the last orders read, not the last 64 lines of any order: past 64 lines an
    order's every tap parsed all its lines again (16 ms a tap at 500 lines, 0.4 ms at 50)."""
    if type(value) is not str:
        return parse_line(order_id, line_id, Fields(value, f"{where} lines/{line_id}"))
    lines = _LINES.get(order_id)
    if lines is None:
        lines = {}
        remember(_LINES, order_id, lines)
    found = lines.get(line_id)
    if found is not None and found[0] == value:
        return found[1]
    line = parse_line(order_id, line_id, Fields(value, f"{where} lines/{line_id}"))
    lines[line_id] = (value, line)  # (one entry a line id: at most the order's lines)
    return line


def line_amounts(order_id: str, lines: Sequence[Line]) -> list[LineAmount]:
    """``price_lines`` of an order's lines when it has no order discount: then each line's amount
    depends on that line alone, so it is kept with the line's parse (the same object while its text
    is) for the last orders read, and a tap on an order of 500 lines prices one line, not 500 (issue
    18, sale). With an order discount the caller prices them all together (shares need every line)."""
    kept = _AMOUNTS.get(order_id)
    if kept is None:
        kept = {}
        remember(_AMOUNTS, order_id, kept)
    amounts: list[LineAmount] = []
    for line in lines:
        found = kept.get(line.id)
        if found is None or found[0] is not line:
            found = kept[line.id] = (line, price_lines([line.priced()])[0])
        amounts.append(found[1])
    return amounts


def order_amounts(
    order_id: str, lines: Sequence[Line], discounts: Sequence[tuple[str, int]]
) -> list[LineAmount]:
    """The amounts of an order's lines given its order discounts ((kind, value) each): priced
    together when it has any (a discount is shared among the lines), else each by itself
    (``line_amounts``)."""
    if discounts:
        return price_lines([line.priced() for line in lines], list(discounts))
    return line_amounts(order_id, lines)


def with_line(order: Order, line_id: str, value: str, where: str) -> Order | None:
    """``order`` (the parse of an order's map) with the line record ``value`` (its JSON text) added
    under ``lines/<line_id>``, a key the map did not hold and no removal names: what ``parse_order``
    of the map now gives (``_order_kept.grown`` says when that holds), from the one new line, not a
    parse of the whole order (issue 18, seller). The lines, their amounts and the totals are what
    the parse computes from them, by the same functions; every other field is the record's alone.
    None if the line does not parse (the next read parses the order and notes or raises it)."""
    try:
        line = _line(order.id, line_id, value, where)
    except CorruptRecord:
        return None
    merged = latest_replacements((*order.lines, line))  # (a new quantity may take a line's place)
    if len(merged) > len(order.lines) and (
        not order.lines or entry_order(order.lines[-1]) < entry_order(line)
    ):
        lines: tuple[Line, ...] = (*order.lines, line)  # (the usual tap: the latest line, last)
    else:
        lines = tuple(sorted(merged, key=entry_order))
    amounts = order_amounts(order.id, lines, [(kind, off) for _, kind, off in order.discounts])
    totals = order_totals(amounts, order.totals.paid, order.totals.tips)
    same = dict(zip(_ORDER_FIELDS, _ORDER_VALUES(order), strict=True))
    return Order(**{**same, "lines": lines, "amounts": tuple(amounts), "totals": totals})


# an Order's fields, read in one call (``dataclasses.replace`` reads them one ``getattr`` each)
_ORDER_FIELDS = tuple(field.name for field in fields(Order))
_ORDER_VALUES = attrgetter(*_ORDER_FIELDS)


def unreadable_lines(
    unreadable: Iterable[tuple[str, CorruptRecord]] | None,
) -> tuple[UnreadableLine, ...]:
    return tuple(UnreadableLine(k, exc.message[:MAX_REASON_CHARS]) for k, exc in unreadable or ())


def latest_replacements(lines: Iterable[Line]) -> list[Line]:
    """The lines, where two registers gave one line a new quantity at once (each replacing it with a
    line of its own), only the later of them (by time, then id): setting a quantity is last-writer-wins,
    so the line is never counted twice (docs/architecture.md (Documents))."""
    kept: dict[str, Line] = {}
    for line in lines:
        key = line.replaces or line.id
        other = kept.get(key)
        if other is None or (line.at_ms, line.id) > (other.at_ms, other.id):
            kept[key] = line
    return list(kept.values())
