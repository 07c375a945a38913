"""A small café menu with staff and rights, for the demo, benchmarks, examples and tests."""

from __future__ import annotations

from meshpos.model.catalog import (
    RIGHTS,
    Catalog,
    Category,
    Discount,
    Modifier,
    ModifierGroup,
    Product,
    Role,
    Settings,
    Tax,
    User,
)

CASHIER = "u-anna"
MANAGER = "u-max"
COOK = "u-kim"


def sample_catalog(catalog: Catalog, *, pin_hash: str = "") -> None:
    """Write the sample menu in one transaction. ``pin_hash`` lets callers skip scrypt in hot loops."""
    catalog.load(
        [
            Settings(
                currency="EUR",
                receipt_header="Café Mesh",
                day_cutoff_hour=4,
                timezone="UTC",
                name="Café Mesh",
            ),
            *(
                Category(name, name, position)
                for position, name in enumerate(("Coffee", "Bakery", "Kitchen", "Drinks", "Shop"))
            ),
            Tax("vat20", "VAT 20 %", 2_000, included=True),
            Tax("vat10", "VAT 10 %", 1_000, included=True),
            Tax("us-sales", "Sales tax 8.875 %", 888, included=False),
            ModifierGroup(
                "milk",
                "Milk",
                (Modifier("oat", "Oat milk", 50), Modifier("soy", "Soy milk", 40)),
                0,
                1,
            ),
            ModifierGroup(
                "size",
                "Size",
                (Modifier("small", "Small", 0), Modifier("large", "Large", 80)),
                1,
                1,
            ),
            Product("espresso", "Espresso", 250, "Coffee", "vat10"),
            Product("latte", "Latte", 390, "Coffee", "vat10", ("size", "milk")),
            Product("croissant", "Croissant", 280, "Bakery", "vat10"),
            Product("burger", "Burger", 1250, "Kitchen", "vat10", kitchen="grill"),
            Product("fries", "Fries", 450, "Kitchen", "vat10", kitchen="grill"),
            Product("lemonade", "Lemonade", 420, "Drinks", "vat20"),
            Product("export-beans", "Beans 1 kg (US)", 1800, "Shop", "us-sales"),
            Discount("staff", "Staff 50 %", "percent", "line", 5_000),
            Discount("happy", "Happy hour 10 %", "percent", "order", 1_000),
            Discount("voucher5", "Voucher 5.00", "fixed", "order", 500),
            Role("cashier", frozenset({"sell", "open_shift", "close_shift", "cash"})),
            Role("manager", frozenset(RIGHTS)),  # a manager may do everything
            Role("cook", frozenset()),
            User(CASHIER, "Anna", "cashier", pin_hash),
            User(MANAGER, "Max", "manager", pin_hash),
            User(COOK, "Kim", "cook", pin_hash),
        ]
    )
