"""The order an order's discounts apply in: the order they were given (the rule a venue states).

**Changed** (issue 18 open rules, part rules, the twentieth session): order discounts apply one after
another in the order the cashier gave them: a percent discount takes its percent of what the ones before
it left, a fixed one takes its amount, never more than is left. Before, they applied in the order of
their records' random keys, so 10 % and two 5.00 vouchers on a 12.50 order took 10.25, 10.75 or 11.25
off by chance (docs/api.md, ``POST /api/orders/{order_id}/discounts``).

WHY the rule lives in the keys and not in a recorded sequence field: every release prices an order's
discounts in the order of their keys (``records.parse_order`` sorts them, ``totals.price_lines`` applies
them in turn). A sequence field would be read by this release only, so while a venue upgrades one register
at a time an older register could close the same order at another total than a newer one shows
(docs/architecture.md (Wire), compatibility rules: documents are not negotiated). A key that sorts after
every key the order already has makes "in key order" *be* "in the order given", on every release at once:
nothing to negotiate, no stored order's total changes (an open order's discounts keep their keys and their
order; a closed receipt keeps the totals it was issued with, stored in its record).

A key is :data:`TURN_MARK`, the turn in base 36 over :data:`TURN_DIGITS` characters (so text order is
number order), then a fresh record id (two registers giving a discount to one order at once take the
same turn; their ids keep both records and order them the same way everywhere). An older register's key
is a bare record id: a discount given after one that sorts above our next turn takes that key with
:data:`AFTER` and a fresh id appended, so it still sorts last.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from meshpos.errors import DomainError
from meshpos.model.limits import MAX_ID_CHARS

TURN_MARK = "t"
TURN_DIGITS = 4  # 36**4 = 1,679,616 turns on one order
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TURN_KEY = re.compile(rf"^{TURN_MARK}([0-9a-z]{{{TURN_DIGITS}}})")
AFTER = "~"  # sorts after every letter and digit


def _base36(number: int) -> str:
    out = ""
    for _ in range(TURN_DIGITS):
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
    return out


def key_in_turn(given: Iterable[str], fresh: str) -> str:
    """The key of an order's next discount: after every key in ``given`` (its discounts' keys) in text
    order, ``fresh`` (a new record id) making it unique. Raises DomainError when the order cannot take
    another (keys of older registers, or past 36**4 turns, leave no room within ``MAX_ID_CHARS``)."""
    keys = list(given)
    turns = [int(m.group(1), 36) for m in map(_TURN_KEY.match, keys) if m is not None]
    turn = max(turns, default=-1) + 1
    last = max(keys, default="")
    key = f"{TURN_MARK}{_base36(turn)}{fresh}" if turn < 36**TURN_DIGITS else last
    if key <= last:  # an older register's key sorts above our next turn (or ends the turns)
        key = f"{last}{AFTER}{fresh}"
    if len(key) > MAX_ID_CHARS:
        raise DomainError(
            f"the order has {len(keys)} discounts, given on registers of two releases: "
            "no more can be given in turn (void it and ring it anew, or give it on one register)"
        )
    return key
