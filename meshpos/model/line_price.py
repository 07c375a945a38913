"""A line's price is never below zero: the one rule the register applies to a sale and the console to
the menu it saves.

WHY one definition: a modifier may lower a price ("no cheese", -0.50), and a line whose modifiers take
off more than its product costs would be a negative receipt "paid" with 0 (tests/outside/
test_negative_line_price.py), so the register refuses it (422). **Changed** (open rules, rules, the
twentieth session): the console refused nothing of the sort, so a manager could save a menu the
registers then refuse to sell from, found only at the till. The console now refuses a product or a
modifier group (API, CSV import, a new price) when the cheapest choice the groups allow would cost
below zero, naming the product and the modifiers, with the register's words (:func:`below_zero`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshpos.errors import DomainError
from meshpos.model.catalog_types import Modifier, ModifierGroup, Product, Settings
from meshpos.model.money import format_money


def below_zero(name: str, price: int, modifiers: Sequence[tuple[str, int]], currency: str) -> str:
    """The words naming a line below zero ("" when it is not): ``name`` at ``price`` with
    ``modifiers`` (each name and price delta)."""
    unit = price + sum(delta for _, delta in modifiers)
    if unit >= 0:
        return ""
    return (
        f"{name!r} with {', '.join(repr(m) for m, _ in modifiers)} costs "
        f"{format_money(unit, currency)}: a line's price is never below zero"
    )


def cheapest(group: ModifierGroup) -> list[Modifier]:
    """The choice of ``group`` that lowers a price most: its ``min_select`` cheapest, then every
    other one that takes something off, up to ``max_select``."""
    by_price = sorted(group.modifiers, key=lambda m: (m.price_delta, m.id))
    return [
        m
        for n, m in enumerate(by_price[: group.max_select])
        if n < group.min_select or m.price_delta < 0
    ]


class KeptGroups:
    """Modifier groups read through ``read`` once each, for one load of many products (a CSV import,
    a copied menu): inside the load's transaction the catalog keeps nothing (``Catalog._kept_read``),
    so every product's check parsed its groups again (a 5,000-product import took twice the CPU).
    A group the load writes is forgotten (``writing``), so a later product is checked against what it wrote."""

    def __init__(self, read: Callable[[str], ModifierGroup]) -> None:
        self._read, self._kept = read, dict[str, ModifierGroup]()

    def __call__(self, group_id: str) -> ModifierGroup:
        if group_id not in self._kept:
            self._kept[group_id] = self._read(group_id)
        return self._kept[group_id]

    def writing(self, put: Callable[[ModifierGroup], None]) -> Callable[[ModifierGroup], None]:
        """``put``, forgetting what was read of the group it writes."""

        def put_anew(group: ModifierGroup) -> None:
            self._kept.pop(group.id, None)
            put(group)

        return put_anew


def refuse_below_zero(
    product: Product, group_of: Callable[[str], ModifierGroup], settings: Callable[[], Settings]
) -> None:
    """DomainError naming ``product`` and the modifiers when the cheapest choice its groups allow
    (``group_of`` reads one by id) costs below zero: the register would refuse that sale."""
    chosen = [(g, m) for g in product.modifier_groups for m in cheapest(group_of(g))]
    taken = [(m.name, m.price_delta) for _, m in chosen]
    if not below_zero(product.name, product.price, taken, ""):
        return
    money = settings().currency  # (read only to word a refusal: an import reads no settings)
    off = ", ".join(
        f"modifier {m.id!r} of group {g!r} ({format_money(m.price_delta, money)})"
        for g, m in chosen
        if m.price_delta < 0
    )
    raise DomainError(
        f"product {product.id!r} at {format_money(product.price, money)}: "
        f"{below_zero(product.name, product.price, taken, money)} (the register refuses that "
        f"sale): {off} take off more than the product costs; raise its price or make the "
        "modifier take off less"
    )


def refuse_group_below_zero(
    group: ModifierGroup,
    products: Sequence[Product],
    group_of: Callable[[str], ModifierGroup],
    settings: Callable[[], Settings],
) -> None:
    """DomainError (:func:`refuse_below_zero`) when saving ``group`` would make one of ``products``
    that offer it cost below zero (a modifier that now takes off more, or a smaller ``min_select``)."""
    for product in products:
        if group.id in product.modifier_groups:
            refuse_below_zero(product, lambda g: group if g == group.id else group_of(g), settings)
