"""Many catalog entities in one transaction: a CSV import, a copied menu, a venue's first menu.

Split from ``catalog.py`` (the twenty-first session) when the end-of-load check made it outgrow a sitting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pycrdt import Doc

from meshpos.model._writes import all_or_nothing
from meshpos.model.catalog_types import (
    Category,
    Discount,
    ModifierGroup,
    Product,
    Role,
    Settings,
    Tax,
    User,
)
from meshpos.model.line_price import KeptGroups, refuse_below_zero


class Catalog(Protocol):
    """What a load writes through (``model/catalog.Catalog``; named here, not imported: it imports
    this module)."""

    doc: Doc[Any]
    name: str

    def modifier_group(self, group_id: str) -> ModifierGroup: ...
    def products(self) -> list[Product]: ...
    def settings(self) -> Settings: ...
    def put_category(self, category: Category) -> None: ...
    def put_tax(self, tax: Tax) -> None: ...
    def put_modifier_group(
        self, group: ModifierGroup, *, products_checked: bool = True
    ) -> None: ...
    def put_product(
        self, product: Product, group_of: Callable[[str], ModifierGroup] | None = None
    ) -> None: ...
    def put_discount(self, discount: Discount) -> None: ...
    def put_role(self, role: Role) -> None: ...
    def put_user(self, user: User) -> None: ...
    def put_settings(self, settings: Settings) -> None: ...


def load(
    catalog: Catalog,
    entries: Iterable[Category | Tax | ModifierGroup | Product | Discount | Role | User | Settings],
) -> None:
    """Write ``entries`` into ``catalog`` in one transaction (one update), in dependency order as given;
    all or nothing.

    The products offering a group the load writes are checked against it when the load is done, as the
    load leaves them (**Changed**, the twenty-first session: each group was checked against the products
    as they were before the load, so a copied menu whose new group and new prices were fine together
    was refused for the old prices it replaced, and every group written parsed every product again)."""
    kept = KeptGroups(catalog.modifier_group)  # (each product's groups parsed once a load)
    groups: set[str] = set()

    def put_group(group: ModifierGroup) -> None:
        groups.add(group.id)
        catalog.put_modifier_group(group, products_checked=False)

    putters = {
        Category: catalog.put_category,
        Tax: catalog.put_tax,
        ModifierGroup: kept.writing(put_group),
        Product: lambda p: catalog.put_product(p, kept),
        Discount: catalog.put_discount,
        Role: catalog.put_role,
        User: catalog.put_user,
        Settings: catalog.put_settings,
    }
    with all_or_nothing(f"{catalog.name} load"), catalog.doc.transaction():
        for entry in entries:
            putters[type(entry)](entry)  # type: ignore[operator]
        for product in catalog.products() if groups else ():
            if groups.intersection(product.modifier_groups):
                refuse_below_zero(product, kept, catalog.settings)
