"""The console's catalog route table (``CATALOG_ROUTES``): menu, staff, settings, stop list, CSV, copies,
and the audit log. The handlers are in :mod:`meshpos.console.catalog_handlers`; the shell that serves
them (auth, errors, the OpenAPI document) is :mod:`meshpos.console.api`.

Every bound comes from :mod:`meshpos.model.limits` (and the model's own catalog rules): a request that
breaks one is refused with 400 naming the field before anything is written.
"""

from __future__ import annotations

from typing import Any

from meshpos.console import catalog_handlers as h
from meshpos.console.audit import MAX_AUDIT_PAGE
from meshpos.console.calls import CONSOLE_USER, VENUE, page
from meshpos.console.menu_csv import COLUMNS, MAX_CSV_LINE_CHARS
from meshpos.console.records import AuditEntry
from meshpos.httpapi.routes import Field, Route, choice, opt, text
from meshpos.model import (
    Category,
    Discount,
    ModifierGroup,
    Product,
    Settings,
    StopEntry,
    Tax,
)
from meshpos.model.catalog_types import (
    DISCOUNT_KINDS,
    DISCOUNT_SCOPES,
    MAX_POSITION,
    PIN_DIGITS,
    RIGHTS,
)
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_CATALOG_ID_CHARS,
    MAX_ID_CHARS,
    MAX_MENU_ROWS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
    SAFE_INTEGER,
)
from meshpos.model.money import BASIS_POINTS

PIN_PATTERN = f"^[0-9]{{{PIN_DIGITS[0]},{PIN_DIGITS[1]}}}$"
PIN_DOC = f"{PIN_DIGITS[0]} to {PIN_DIGITS[1]} digits; hashed at once, never shown again"
TAG = "catalog"


def _id(name: str = "id", doc: str = "") -> Field:
    return text(name, MAX_CATALOG_ID_CHARS, doc or "an id: 1-64 characters, no '/'")


def _ref(name: str, doc: str) -> Field:
    """An optional id of another entity of the catalog ("" or absent: none)."""
    return text(name, MAX_CATALOG_ID_CHARS, doc, default="")


def _money(name: str, doc: str, low: int = 0) -> Field:
    return Field(name, int, doc, minimum=low, maximum=MAX_AMOUNT)


def _delete(kind: str, noun: str, param: str) -> Route:
    return Route(
        "DELETE",
        f"{VENUE}/{kind}/{{{param}}}",
        h.remover(kind, param),
        f"Delete a {noun} (refused while something still names it)",
        dict[str, Any],
        tag=TAG,
        operation=f"delete_{kind}",
    )


PRODUCT_ID = text("product_id", MAX_ID_CHARS, "the product's id in the catalog")

CATALOG_ROUTES: tuple[Route, ...] = (
    # the Menu, Staff, Settings and Audit sections of the console's page
    page(
        "/static/console_menu.js",
        "meshpos.console",
        "console_menu.js",
        "text/javascript; charset=utf-8",
    ),
    Route(
        "GET",
        "/api/chain",
        h.chain,
        "The venues of this console (a chain's), with their names",
        list[dict[str, str]],
        tag=TAG,
    ),
    Route(
        "GET",
        f"{VENUE}/catalog",
        h.catalog,
        "The catalog's products, each with `stopped`",
        list[dict[str, Any]],
        tag=TAG,
    ),
    Route(
        "GET",
        f"{VENUE}/menu",
        h.menu,
        "Everything the registers receive: categories, products, taxes, modifier groups, "
        "discounts, roles, users (with `has_pin`, never a PIN), settings, and the known rights",
        dict[str, Any],
        tag=TAG,
    ),
    Route(
        "POST",
        f"{VENUE}/categories",
        h.put_category,
        "Add a category or replace it",
        Category,
        tag=TAG,
        body=(
            _id(),
            text("name", MAX_NAME_CHARS),
            opt(
                "position",
                int,
                0,
                "its place in the register's grid",
                minimum=0,
                maximum=MAX_POSITION,
            ),
        ),
    ),
    _delete("categories", "category", "category_id"),
    Route(
        "POST",
        f"{VENUE}/products",
        h.put_product,
        "Add a product or replace it whole",
        Product,
        tag=TAG,
        body=(
            _id(doc="the product's id; an existing product is replaced"),
            text("name", MAX_NAME_CHARS),
            _money("price", "the price, in minor units"),
            _ref("category", "a category id of the catalog (or one its products already name)"),
            opt("tax_id", str | None, None, "a tax of the catalog", max_chars=MAX_CATALOG_ID_CHARS),
            opt(
                "modifier_groups",
                list[str],
                [],
                "modifier group ids of the catalog",
                max_chars=MAX_CATALOG_ID_CHARS,
            ),
            opt("active", bool, True, "false: kept, but not sold"),
            text("kitchen", MAX_ID_CHARS, "the kitchen station its tickets go to", default=""),
        ),
    ),
    Route(
        "POST",
        f"{VENUE}/prices",
        h.set_price,
        "Change a product's price",
        Product,
        tag=TAG,
        body=(PRODUCT_ID, _money("price", "the price, in minor units")),
    ),
    Route(
        "POST",
        f"{VENUE}/stoplist",
        h.set_stop,
        "Stop a product or make it available again",
        StopEntry,
        tag=TAG,
        body=(
            PRODUCT_ID,
            Field("stopped", bool),
            text("user", MAX_ID_CHARS, "a user of the catalog, or `console`", default=CONSOLE_USER),
        ),
    ),
    Route(
        "POST",
        f"{VENUE}/taxes",
        h.put_tax,
        "Add a tax or replace it",
        Tax,
        tag=TAG,
        body=(
            _id(),
            text("name", MAX_NAME_CHARS),
            Field(
                "rate_bp",
                int,
                "the rate in basis points (2000 = 20 %)",
                minimum=0,
                maximum=BASIS_POINTS,
            ),
            opt("included", bool, True, "prices contain it (true) or it is added on top (false)"),
        ),
    ),
    _delete("taxes", "tax", "tax_id"),
    Route(
        "POST",
        f"{VENUE}/modifier_groups",
        h.put_modifier_group,
        "Add a modifier group with its modifiers, or replace it whole",
        ModifierGroup,
        tag=TAG,
        body=(
            _id(),
            text("name", MAX_NAME_CHARS),
            opt("min_select", int, 0, "fewest to choose", minimum=0, maximum=MAX_QUANTITY),
            opt("max_select", int, 1, "most to choose", minimum=0, maximum=MAX_QUANTITY),
            opt(
                "modifiers",
                list[dict[str, str | int]],
                [],
                "each `{id, name, price_delta}`; price_delta in minor units, may be negative",
                max_chars=MAX_NAME_CHARS,
                minimum=-MAX_AMOUNT,
                maximum=MAX_AMOUNT,
            ),
        ),
    ),
    _delete("modifier_groups", "modifier group", "group_id"),
    Route(
        "POST",
        f"{VENUE}/discounts",
        h.put_discount,
        "Add a discount or replace it",
        Discount,
        tag=TAG,
        body=(
            _id(),
            text("name", MAX_NAME_CHARS),
            Field("kind", choice(*DISCOUNT_KINDS), "percent or fixed"),
            Field("scope", choice(*DISCOUNT_SCOPES), "one line or the whole order"),
            Field(
                "value",
                int,
                "basis points for percent (1000 = 10 %), minor units for fixed",
                minimum=0,
                maximum=MAX_AMOUNT,
            ),
            opt(
                "roles",
                list[str],
                [],
                "the roles that may give it; empty: every role with the discount right",
                max_chars=MAX_ID_CHARS,
            ),
        ),
    ),
    _delete("discounts", "discount", "discount_id"),
    Route(
        "POST",
        f"{VENUE}/roles",
        h.put_role,
        "Add a role or replace its rights",
        dict[str, Any],
        tag=TAG,
        body=(
            text("name", MAX_CATALOG_ID_CHARS),
            Field("rights", list[choice(*RIGHTS)], "what its users may do"),  # type: ignore[misc]
        ),
    ),
    _delete("roles", "role", "role_name"),
    Route(
        "POST",
        f"{VENUE}/users",
        h.put_user,
        "Add a user or change one (name, role, and a PIN when given)",
        dict[str, Any],
        tag=TAG,
        body=(
            _id(),
            text("name", MAX_NAME_CHARS),
            text("role", MAX_CATALOG_ID_CHARS, "a role of the catalog"),
            text(
                "pin",
                PIN_DIGITS[1],
                f"{PIN_DOC}; empty or absent: keep the PIN",
                default="",
                pattern=f"^([0-9]{{{PIN_DIGITS[0]},{PIN_DIGITS[1]}}})?$",
            ),
        ),
    ),
    Route(
        "POST",
        f"{VENUE}/users/{{user_id}}/pin",
        h.set_pin,
        "Set or reset a user's PIN",
        dict[str, Any],
        tag=TAG,
        body=(text("pin", PIN_DIGITS[1], PIN_DOC, pattern=PIN_PATTERN),),
    ),
    _delete("users", "user", "user_id"),
    Route(
        "GET",
        f"{VENUE}/settings",
        h.settings,
        "The venue's settings",
        Settings,
        tag=TAG,
    ),
    Route(
        "POST",
        f"{VENUE}/settings",
        h.put_settings,
        "Replace the venue's settings",
        Settings,
        tag=TAG,
        body=(
            text("name", MAX_NAME_CHARS, "the venue's name", default=""),
            text("currency", MAX_ID_CHARS, "e.g. EUR", pattern="^[A-Z]{3}$"),
            text("receipt_header", MAX_NOTE_CHARS, default=""),
            text("receipt_footer", MAX_NOTE_CHARS, default=""),
            text("timezone", MAX_ID_CHARS, "an IANA time zone, e.g. Europe/Paris"),
            Field(
                "day_cutoff_hour",
                int,
                "the hour the business day starts (sales before it belong to the day before)",
                minimum=0,
                maximum=23,
            ),
            opt(
                "blind_count",
                bool,
                False,
                "a cashier closing a shift counts the drawer without seeing the expected cash "
                "(registers show it once counted)",
            ),
        ),
    ),
    Route(
        "GET",
        f"{VENUE}/menu.csv",
        h.menu_csv,
        "The menu as CSV, one product per line",
        tag=TAG,
        content_type="text/csv; charset=utf-8",
        description=f"Columns: {', '.join(COLUMNS)}. Prices in minor units; imports back as it is.",
    ),
    Route(
        "POST",
        f"{VENUE}/menu/import",
        h.import_menu,
        "Import a CSV menu, all or nothing",
        dict[str, int],
        tag=TAG,
        body=(
            Field(
                "lines",
                list[str],
                "the file's lines, the first naming the columns",
                max_chars=MAX_CSV_LINE_CHARS,
            ),
        ),
        description=f"Columns: {', '.join(COLUMNS)} (id, name, price required; price in minor "
        f"units; modifier_groups separated by `;`; at most {MAX_MENU_ROWS} products). A bad value refuses the whole file: 422 "
        "`bad_csv` naming the line and column, and nothing is imported. Products not in the "
        "file are kept.",
    ),
    Route(
        "POST",
        f"{VENUE}/menu/copy",
        h.copy_menu,
        "Copy another venue's menu into this one",
        dict[str, Any],
        tag=TAG,
        body=(text("from_venue", MAX_ID_CHARS, "the venue to copy from"),),
        description="Categories, taxes, modifier groups, products and discounts (same ids are "
        "replaced); users, settings and the stop list stay each venue's own.",
    ),
    Route(
        "GET",
        f"{VENUE}/audit",
        h.audit_log,
        "Who changed what at the console, and when (newest first)",
        list[AuditEntry],
        tag=TAG,
        query=(
            opt("limit", int, 100, "how many entries", minimum=1, maximum=MAX_AUDIT_PAGE),
            opt(
                "before_seq",
                int,
                0,
                "only entries before the one with this `seq` (the last of a page); 0: the newest",
                minimum=0,
                maximum=SAFE_INTEGER,
            ),
        ),
    ),
)
