"""A venue's menu as CSV, the way venues keep menus in a spreadsheet: one product per line.

Columns (the header line names them, in any order; ``id``, ``name`` and ``price`` are required):

``id, name, category, price, tax, kitchen, active, modifier_groups``

``price`` is in minor units (cents) like every amount of the API; ``category`` a category id (a new one is
created, named as its id); ``tax`` a tax id of the venue or empty; ``active`` yes/no (empty: yes);
``modifier_groups`` group ids of the venue separated by ``;``. The API takes the file as its lines (JSON
text holds no line breaks), so line numbers are the spreadsheet's. A byte order mark before the header is
ignored, and a header with ``;`` and no ``,`` means the file's columns are separated by ``;`` (a
spreadsheet in French, German, ...). A text the export writes with a leading
``'`` (it would start a formula: :mod:`meshpos.console.sheet`) is read back without it. An import is all or nothing: the first bad
value refuses the whole file with its line and column (:class:`meshpos.errors.BadCsv`) and nothing is
written; products not in the file are kept as they are.

**Changed** (open rules, rules, the twentieth session): a product whose modifiers can take off more
than its price is refused naming its line (``model/line_price.py``: the register would refuse the sale);
a product id that differs only by case from another line's or the venue's is refused naming both
(``catalog_types.case_twin``): ``Tea`` beside ``tea`` made a second product.

**Changed** (outside, the twenty-first session): a line holding U+FFFD, the mark a reader puts where
bytes were not UTF-8, is refused naming its line and column and saying to save the file as "CSV UTF-8".
Excel on Windows saves "CSV (Comma delimited)" in the PC's legacy code page (Windows-1252, -1251, ...);
the Menu tab (a browser reads a file as UTF-8) and any client decoding the same way turned ``Café``
into ``Caf\ufffd`` and the import put it on every register's buttons and receipts. A menu never means
that character (tests/outside/test_menu_csv_not_utf8.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from meshpos.console.sheet import read_text_cell, text_cell
from meshpos.errors import BadCsv, DomainError, MeshposError
from meshpos.model import Catalog, Category, Product
from meshpos.model.catalog_types import by_case, case_twin, check_amount, check_id
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_MENU_ROWS,
    MAX_NOTE_CHARS,
    check_name,
    check_text,
    text_problem,
)
from meshpos.model.line_price import KeptGroups, refuse_below_zero

COLUMNS = ("id", "name", "category", "price", "tax", "kitchen", "active", "modifier_groups")
REQUIRED = ("id", "name", "price")
GROUP_SEPARATOR = ";"
MAX_CSV_LINE_CHARS = 4 * MAX_NOTE_CHARS  # a product's line: eight values, none longer than a name
# a spreadsheet's "CSV UTF-8" begins with one (the Menu tab strips it too); one in a language whose
# decimal mark is a comma separates columns with ";": a header without "," but with ";" says so
BYTE_ORDER_MARK = "\ufeff"
# what a UTF-8 reader (the browser's File.text(), Python's errors="replace") puts for bytes it could not read
UNREADABLE = "\ufffd"
# a price is ASCII digits: str.isdigit also takes "²" (int() then raised, a 503 'cannot answer now')
# and other scripts' digits ("٢٥٠" imported as 250), which no export writes and a reader takes otherwise
_WHOLE = re.compile(f"-?[0-9]{{1,{len(str(MAX_AMOUNT))}}}")
_YES = {"", "yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n"}


def export_menu(catalog: Catalog) -> str:
    """Every product of the catalog, one line each, in the import's format (an export imports back)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in catalog.products():
        writer.writerow(
            (
                text_cell(p.id),
                text_cell(p.name),
                text_cell(p.category),
                p.price,
                text_cell(p.tax_id or ""),
                text_cell(p.kitchen),
                "yes" if p.active else "no",
                text_cell(GROUP_SEPARATOR.join(p.modifier_groups)),
            )
        )
    return out.getvalue()


def parse_menu(lines: Sequence[str], catalog: Catalog) -> list[Category | Product]:
    """The categories to create and the products of the file's ``lines`` (line 1 the header), every
    value checked against ``catalog`` (taxes, modifier groups) before anything is written: BadCsv
    naming line and column. A line is one text without its line break (so a value cannot span lines)."""
    if len(lines) > MAX_MENU_ROWS + 1:
        raise BadCsv(
            f"line {MAX_MENU_ROWS + 2}: the file has {len(lines) - 1} lines under its header; at most "
            f"{MAX_MENU_ROWS} products are imported at once (split the file)"
        )
    lines = [lines[0].removeprefix(BYTE_ORDER_MARK), *lines[1:]] if lines else []
    separator = ";" if lines and "," not in lines[0] and ";" in lines[0] else ","
    rows = [_row(raw, number, separator) for number, raw in enumerate(lines, 1)]
    if not rows:
        raise BadCsv("line 1: the file is empty; the first line names the columns")
    header = rows[0]
    names = [h.strip().lower() for h in header]
    for number, name in enumerate(names, 1):
        if name not in COLUMNS:
            raise BadCsv(
                f"line 1, column {number}: unknown column {name!r} (known: {', '.join(COLUMNS)})"
            )
        if names.index(name) != number - 1:
            raise BadCsv(f"line 1, column {number}: column {name!r} appears twice")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BadCsv(f"line 1: missing column(s) {', '.join(missing)}")
    known_categories = {c.id for c in catalog.categories()}
    taxes = {t.id for t in catalog.taxes()}
    groups = {g.id for g in catalog.modifier_groups()}
    new_categories: dict[str, Category] = {}
    products: dict[str, Product] = {}
    venue_ids = by_case(p.id for p in catalog.products())
    lines_of: dict[str, int] = {}
    in_file: dict[str, list[str]] = {}  # (as by_case: the file's ids so far)
    group_of = KeptGroups(catalog.modifier_group)
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line (spreadsheets add them at the end)
        if len(row) != len(names):
            raise BadCsv(
                f"line {line}: {len(row)} values, but the header names {len(names)} columns"
            )
        cells = dict(zip(names, (read_text_cell(cell.strip()) for cell in row), strict=True))
        product = _product(cells, names, line, taxes, groups)
        twin = case_twin(product.id, in_file) or case_twin(product.id, venue_ids)
        if twin is not None:
            raise BadCsv(
                f"line {line}, column {names.index('id') + 1} (id): product {product.id!r} differs "
                f"only by case from product {twin!r} "
                + (f"on line {lines_of[twin]}" if twin in lines_of else "the venue has")
                + ": one product, one id whatever its case (write it as the other is written)"
            )
        lines_of[product.id] = line
        in_file.setdefault(product.id.casefold(), []).append(product.id)
        try:  # the register's rule, with the file's line (Catalog.put_product refuses it too)
            refuse_below_zero(product, group_of, catalog.settings)
        except DomainError as exc:
            raise BadCsv(f"line {line}, column {names.index('price') + 1} (price): {exc}") from None
        if product.id in products:
            raise BadCsv(
                f"line {line}, column {names.index('id') + 1} (id): product "
                f"{product.id!r} is already on an earlier line"
            )
        products[product.id] = product
        if product.category and product.category not in known_categories:
            new_categories.setdefault(
                product.category, Category(product.category, product.category)
            )
    if not products:
        raise BadCsv("the file has no product lines under its header")
    return [*new_categories.values(), *products.values()]


def _row(raw: str, number: int, separator: str) -> list[str]:
    """One line's values; a value cannot span lines (the API takes the file as its lines)."""
    problem = text_problem(raw, MAX_CSV_LINE_CHARS)
    if problem is not None:
        raise BadCsv(f"line {number}: the line {problem}")
    try:
        rows = list(csv.reader([raw], strict=True, delimiter=separator))
    except csv.Error as exc:
        raise BadCsv(f"line {number}: {exc}") from None
    row = rows[0] if rows else []
    if UNREADABLE in raw:
        column = next((i for i, cell in enumerate(row, 1) if UNREADABLE in cell), 0)
        where = f"line {number}, column {column}" if column else f"line {number}"
        raise BadCsv(
            f"{where}: {UNREADABLE!r} (U+FFFD) stands where the file's bytes were not UTF-8 text: the "
            "file was saved in another encoding (Excel's 'CSV (Comma delimited)' uses the PC's code "
            "page); save it as 'CSV UTF-8' and import it again"
        )
    return row


def _product(
    cells: dict[str, str], names: Sequence[str], line: int, taxes: set[str], groups: set[str]
) -> Product:
    def where(column: str) -> str:
        return f"line {line}, column {names.index(column) + 1} ({column})"

    def checked(column: str, check: object) -> None:
        assert callable(check)
        try:
            check()
        except MeshposError as exc:
            raise BadCsv(f"{where(column)}: {exc.message}") from None

    cell = cells.get
    checked("id", lambda: check_id(cells["id"], "product"))
    checked("name", lambda: check_name(cells["name"], "name"))  # one rule with the JSON API's
    raw_price = cells["price"]
    if _WHOLE.fullmatch(raw_price) is None:
        raise BadCsv(
            f"{where('price')}: {raw_price!r} is not a whole number of minor units (cents)"
        )
    price = int(raw_price)
    checked("price", lambda: check_amount(price, "price", 0))
    category = cell("category") or ""
    if category:
        checked("category", lambda: check_id(category, "category"))
    tax = cell("tax") or None
    if tax is not None and tax not in taxes:
        raise BadCsv(f"{where('tax')}: no tax {tax!r} at this venue (known: {sorted(taxes)})")
    kitchen = cell("kitchen") or ""
    checked("kitchen", lambda: check_text(kitchen, "kitchen", MAX_ID_CHARS))
    active_text = (cell("active") or "").lower()
    if active_text not in _YES | _NO:
        raise BadCsv(f"{where('active')}: {active_text!r} is not yes or no")
    chosen = tuple(g.strip() for g in (cell("modifier_groups") or "").split(GROUP_SEPARATOR))
    chosen = tuple(g for g in chosen if g)
    for group in chosen:
        if group not in groups:
            raise BadCsv(f"{where('modifier_groups')}: no modifier group {group!r} at this venue")
    return Product(
        id=cells["id"],
        name=cells["name"],
        price=price,
        category=category,
        tax_id=tax,
        modifier_groups=chosen,
        active=active_text in _YES,
        kitchen=kitchen,
    )
