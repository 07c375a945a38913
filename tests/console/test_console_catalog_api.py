"""The console's catalog API on SQLite and PostgreSQL: every entity the registers receive is made, changed
and deleted through it, with errors naming the field; a user made with a PIN logs in with it; a CSV menu
is imported all or nothing (a malformed file is refused naming line and column, and nothing is written);
a chain copies a menu between venues; every write is in the audit log. Every answer is checked against
the console's OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshpos.console import audit
from meshpos.console.api import make_console_handler
from meshpos.console.db import open_console_db
from meshpos.console.menu_csv import COLUMNS
from meshpos.console.runner import register_venues
from meshpos.console.server import ConsoleServer
from meshpos.console.sqlbase import SqlConsoleDB
from meshpos.console.venue_docs import stored_venue
from meshpos.errors import UnknownRecord
from meshpos.harness.venue import make_venue
from meshpos.httpapi.server import HttpServer
from meshpos.model import Product, verify_pin
from meshpos.model.documents import CATALOG
from meshpos.model.limits import MAX_AMOUNT, MAX_MENU_ROWS

from ..relay.consoles import SETTLE_S
from ..web.kit import Client

TOKEN = "console-admin-token"


@dataclass
class Bed:
    client: Client
    server: ConsoleServer
    venues: list[str]

    @property
    def path(self) -> str:
        return f"/api/venues/{self.venues[0]}"


@pytest.fixture
async def bed(db_url: str, tmp_path: Path) -> AsyncIterator[Bed]:
    """A console (two venues of a chain) on the parametrised database, its API in this loop."""
    db = await open_console_db(db_url)
    try:
        dirs = [make_venue(tmp_path / f"v{i}", f"Café {i}").directory for i in (1, 2)]
        venues = await register_venues(db, dirs)
        server = ConsoleServer(db, "127.0.0.1", 0, heartbeat_interval=0.2)
        await server.start()
        api = HttpServer(make_console_handler(server, TOKEN), "127.0.0.1", 0)
        await api.start()
        try:
            base = f"http://127.0.0.1:{api.port}"
            doc = await Client(base, "").ok("GET", "/api/openapi.json")
            yield Bed(Client(base, TOKEN, doc), server, venues)
        finally:
            await api.stop()
            await server.stop(settle_within=SETTLE_S)
    finally:
        await db.close()


async def _staff_and_menu(bed: Bed) -> None:
    c, v = bed.client, bed.path
    await c.ok("POST", f"{v}/categories", {"id": "drinks", "name": "Drinks", "position": 1})
    await c.ok("POST", f"{v}/taxes", {"id": "vat10", "name": "VAT 10 %", "rate_bp": 1000})
    await c.ok(
        "POST",
        f"{v}/modifier_groups",
        {
            "id": "milk",
            "name": "Milk",
            "min_select": 0,
            "max_select": 1,
            "modifiers": [{"id": "oat", "name": "Oat milk", "price_delta": 50}],
        },
    )
    await c.ok(
        "POST",
        f"{v}/products",
        {
            "id": "latte",
            "name": "Latte",
            "price": 390,
            "category": "drinks",
            "tax_id": "vat10",
            "modifier_groups": ["milk"],
            "kitchen": "bar",
        },
    )
    await c.ok("POST", f"{v}/roles", {"name": "cashier", "rights": ["sell", "discount"]})
    await c.ok(
        "POST",
        f"{v}/discounts",
        {"id": "staff", "name": "Staff", "kind": "percent", "scope": "line", "value": 5000,
         "roles": ["cashier"]},
    )  # fmt: skip
    await c.ok(
        "POST", f"{v}/users", {"id": "u-ana", "name": "Ana", "role": "cashier", "pin": "2468"}
    )


async def test_every_entity_is_made_read_and_audited(bed: Bed) -> None:
    await _staff_and_menu(bed)
    c, v = bed.client, bed.path
    menu = await c.ok("GET", f"{v}/menu")
    assert [x["id"] for x in menu["categories"]] == ["drinks"]
    [latte] = menu["products"]
    assert (latte["category"], latte["kitchen"], latte["stopped"]) == ("drinks", "bar", False)
    assert menu["modifier_groups"][0]["modifiers"][0]["price_delta"] == 50
    assert menu["discounts"][0]["roles"] == ["cashier"]
    assert menu["users"] == [{"id": "u-ana", "name": "Ana", "role": "cashier", "has_pin": True}]
    # the PIN is hashed in the catalog the registers receive, and checks as the register checks it
    user = bed.server.hubs[bed.venues[0]].venue.catalog.user("u-ana")
    assert verify_pin("2468", user.pin_hash)
    assert not verify_pin("1357", user.pin_hash)
    await c.ok("POST", f"{v}/users/u-ana/pin", {"pin": "1357"})
    user = bed.server.hubs[bed.venues[0]].venue.catalog.user("u-ana")
    assert verify_pin("1357", user.pin_hash)
    # a change of name keeps the PIN
    await c.ok("POST", f"{v}/users", {"id": "u-ana", "name": "Ana B.", "role": "cashier"})
    assert bed.server.hubs[bed.venues[0]].venue.catalog.user("u-ana").pin_hash == user.pin_hash

    settings = {
        "name": "Café Uno",
        "currency": "CHF",
        "receipt_header": "Welcome",
        "receipt_footer": "Merci",
        "timezone": "Europe/Zurich",
        "day_cutoff_hour": 5,
        "blind_count": True,
    }
    assert await c.ok("POST", f"{v}/settings", settings) == settings
    assert await c.ok("GET", f"{v}/settings") == settings
    await c.ok("POST", f"{v}/stoplist", {"product_id": "latte", "stopped": True})
    await c.ok("POST", f"{v}/prices", {"product_id": "latte", "price": 420})

    log = await c.ok("GET", f"{v}/audit")
    actions = [e["action"] for e in reversed(log)]
    assert actions == [
        "category.put", "tax.put", "modifier_group.put", "product.put", "role.put",
        "discount.put", "user.put", "user.pin", "user.put", "settings.put", "stoplist.set",
        "product.price",
    ]  # fmt: skip
    price = log[0]
    assert price["who"] == "console"
    assert price["subject"] == "latte"
    assert (price["detail"]["before"]["price"], price["detail"]["after"]["price"]) == (390, 420)
    assert "pin_hash" not in str(log)  # never in the log
    assert len(await c.ok("GET", f"{v}/audit?limit=2")) == 2
    assert await c.ok("GET", f"{v}/audit?before_seq={log[-1]['seq']}") == []
    page = await c.ok("GET", f"{v}/audit?limit=5")
    rest = await c.ok("GET", f"{v}/audit?before_seq={page[-1]['seq']}")
    assert page + rest == log  # pages go back through every entry, none twice


async def test_a_category_products_name_without_a_record_stays_usable(bed: Bed) -> None:
    """A menu made before categories were records names them by text only: its products stay editable
    in their category, and a record for it can be made later."""
    c, v = bed.client, bed.path
    hub_venue = (await bed.server.hub(bed.venues[0])).venue
    hub_venue.catalog.put_product(Product("bun", "Bun", 200, "Bakery"))  # as an older console wrote
    await c.ok(
        "POST", f"{v}/products", {"id": "roll", "name": "Roll", "price": 150, "category": "Bakery"}
    )
    await c.error(
        404,
        "unknown_record",
        "POST",
        f"{v}/products",
        {"id": "x", "name": "X", "price": 1, "category": "Bak"},
    )
    await c.ok("POST", f"{v}/categories", {"id": "Bakery", "name": "Bakery & Co"})
    assert [p["category"] for p in (await c.ok("GET", f"{v}/menu"))["products"]] == [
        "Bakery",
        "Bakery",
    ]


async def test_refusals_name_the_field_and_change_nothing(bed: Bed) -> None:
    await _staff_and_menu(bed)
    c, v = bed.client, bed.path
    before = await c.ok("GET", f"{v}/menu")
    logged = len(await c.ok("GET", f"{v}/audit"))
    product = {"id": "tea", "name": "Tea", "price": 300}
    msg = await c.error(
        400, "bad_field", "POST", f"{v}/products", product | {"price": MAX_AMOUNT + 1}
    )
    assert "'price'" in msg
    msg = await c.error(400, "bad_field", "POST", f"{v}/products", product | {"name": "x\ud800"})
    assert "'name'" in msg
    msg = await c.error(
        404, "unknown_record", "POST", f"{v}/products", product | {"category": "nope"}
    )
    assert "nope" in msg
    msg = await c.error(
        404, "unknown_record", "POST", f"{v}/products", product | {"tax_id": "vat99"}
    )
    assert "vat99" in msg
    msg = await c.error(422, "domain_error", "POST", f"{v}/products", product | {"id": "a/b"})
    assert "product id" in msg
    await c.error(400, "bad_field", "POST", f"{v}/users/u-ana/pin", {"pin": "12"})
    await c.error(
        400,
        "bad_field",
        "POST",
        f"{v}/users",
        {"id": "u", "name": "U", "role": "cashier", "pin": "12ab"},
    )
    await c.error(
        404, "unknown_record", "POST", f"{v}/users", {"id": "u", "name": "U", "role": "chef"}
    )
    msg = await c.error(
        422, "domain_error", "POST", f"{v}/modifier_groups",
        {"id": "g", "name": "G", "min_select": 2, "max_select": 1},
    )  # fmt: skip
    assert "min_select" in msg
    msg = await c.error(
        422, "domain_error", "POST", f"{v}/modifier_groups",
        {"id": "g", "name": "G", "modifiers": [{"id": "m", "name": "M", "price_delta": "1"}]},
    )  # fmt: skip
    assert "modifiers' [0] 'price_delta'" in msg
    settings = {"currency": "EUR", "timezone": "Mars/Olympus", "day_cutoff_hour": 4}
    msg = await c.error(422, "domain_error", "POST", f"{v}/settings", settings)
    assert "Mars/Olympus" in msg
    for other in ("localtime", "posixrules", "right/UTC", "posix/UTC", "Factory"):  # main: taken
        msg = await c.error(
            422, "domain_error", "POST", f"{v}/settings", settings | {"timezone": other}
        )
        assert f"{other!r} is not a time zone of the IANA database" in msg
    await c.error(400, "bad_field", "POST", f"{v}/settings", settings | {"currency": "euro"})
    # deleting what is still used is refused, naming the user of it
    msg = await c.error(422, "domain_error", "DELETE", f"{v}/taxes/vat10")
    assert "latte" in msg
    msg = await c.error(422, "domain_error", "DELETE", f"{v}/roles/cashier")
    assert "u-ana" in msg
    assert "staff" in msg
    assert await c.ok("GET", f"{v}/menu") == before
    assert len(await c.ok("GET", f"{v}/audit")) == logged
    # unused: deleted, and audited
    await c.ok("DELETE", f"{v}/discounts/staff")
    assert (await c.ok("GET", f"{v}/audit"))[0]["action"] == "discounts.delete"


def _menu_lines(count: int) -> list[str]:
    header = ",".join(COLUMNS)
    return [header] + [
        f"p{i:04},Item {i},cat{i % 7},{100 + i},vat10,{'bar' if i % 2 else ''},yes,"
        + ("milk" if i % 5 == 0 else "")
        for i in range(count)
    ]


async def test_a_csv_menu_is_imported_whole_and_exported_back(bed: Bed) -> None:
    await _staff_and_menu(bed)
    c, v = bed.client, bed.path
    lines = _menu_lines(500)
    result = await c.ok("POST", f"{v}/menu/import", {"lines": lines})
    assert result == {"products": 500, "categories_created": 7}
    menu = await c.ok("GET", f"{v}/menu")
    assert len(menu["products"]) == 501  # the latte was kept
    answer = await c.call("GET", f"{v}/menu.csv")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    exported = answer.body.decode().splitlines()
    assert len(exported) == 502
    assert exported[0] == ",".join(COLUMNS)
    # the export imports back unchanged
    await c.ok("POST", f"{v}/menu/import", {"lines": exported})
    assert await c.ok("GET", f"{v}/menu") == menu


@pytest.mark.parametrize(
    ("line", "bad", "where"),
    [
        (3, "p2,Item,cat,abc,vat10,,yes,", "line 3, column 4 (price)"),
        (4, "p3,Item,cat,10,vat99,,yes,", "line 4, column 5 (tax)"),
        (5, "p4,Item,cat,10,vat10,,maybe,", "line 5, column 7 (active)"),
        (6, "p5,Item,cat,10,vat10,,yes,nogroup", "line 6, column 8 (modifier_groups)"),
        (3, "p2,Item,cat,10", "line 3:"),
        (4, 'p3,"Item,cat,10,vat10,,yes,', "line 4"),
        (5, "p0004/x,Item,cat,10,vat10,,yes,", "line 5, column 1 (id)"),
        (6, "p0000,Again,cat,10,vat10,,yes,", "line 6, column 1 (id)"),
    ],
)
async def test_a_malformed_csv_is_refused_naming_line_and_column_and_nothing_is_imported(
    bed: Bed, line: int, bad: str, where: str
) -> None:
    await _staff_and_menu(bed)
    c, v = bed.client, bed.path
    before = await c.ok("GET", f"{v}/menu")
    logged = len(await c.ok("GET", f"{v}/audit"))
    lines = _menu_lines(10)
    lines[line - 1] = bad
    msg = await c.error(422, "bad_csv", "POST", f"{v}/menu/import", {"lines": lines})
    assert msg.startswith(where), msg
    assert await c.ok("GET", f"{v}/menu") == before
    assert len(await c.ok("GET", f"{v}/audit")) == logged
    too_many = _menu_lines(MAX_MENU_ROWS + 1)
    msg = await c.error(422, "bad_csv", "POST", f"{v}/menu/import", {"lines": too_many})
    assert msg.startswith(f"line {MAX_MENU_ROWS + 2}:"), msg
    msg = await c.error(422, "bad_csv", "POST", f"{v}/menu/import", {"lines": ["id,name,cost"]})
    assert msg.startswith("line 1, column 3"), msg


async def test_a_chain_lists_its_venues_and_copies_a_menu(bed: Bed) -> None:
    await _staff_and_menu(bed)
    c = bed.client
    chain = await c.ok("GET", "/api/chain")
    assert sorted(x["name"] for x in chain) == ["Café 1", "Café 2"]
    source, target = bed.venues
    result = await c.ok("POST", f"/api/venues/{target}/menu/copy", {"from_venue": source})
    assert (result["products"], result["discounts"]) == (1, 1)
    copied = await c.ok("GET", f"/api/venues/{target}/menu")
    original = await c.ok("GET", f"/api/venues/{source}/menu")
    for key in ("categories", "products", "taxes", "modifier_groups", "discounts"):
        assert copied[key] == original[key], key
    assert copied["users"] == []  # staff stays each venue's own
    assert [r["name"] for r in copied["roles"]] == ["cashier"]  # the discount's role came along
    await c.error(
        422, "domain_error", "POST", f"/api/venues/{source}/menu/copy", {"from_venue": source}
    )
    await c.error(
        404, "unknown_record", "POST", f"/api/venues/{source}/menu/copy", {"from_venue": "nowhere"}
    )
    audit = await c.ok("GET", f"/api/venues/{target}/audit")
    assert audit[0]["action"] == "menu.copy"
    assert audit[0]["subject"] == source


async def test_an_edit_and_its_audit_entry_are_one_transaction(bed: Bed) -> None:
    """Both or neither: an edit is committed with its entry in the audit log, and when the entry
    cannot be written the edit is not in the database either and the request says it failed."""
    c, v, venue, db = bed.client, bed.path, bed.venues[0], bed.server.db
    drinks = {"id": "drinks", "name": "Drinks", "position": 1}
    await c.ok("POST", f"{v}/categories", drinks)
    version = await db.document_version(venue, CATALOG)
    logged = await c.ok("GET", f"{v}/audit")
    assert [(e["action"], e["subject"]) for e in logged] == [("category.put", "drinks")]
    await c.ok("POST", f"{v}/categories", drinks)  # the same again: still a write, still logged
    assert len(await c.ok("GET", f"{v}/audit")) == 2
    # an edit that leaves the documents as they were has no update to go with: logged on its own
    async with bed.server.using(venue) as hub:
        await hub.edit(lambda _: None, lambda _: audit.entry("console", "noop", "drinks", {}))
    assert (await c.ok("GET", f"{v}/audit"))[0]["action"] == "noop"

    version = await db.document_version(venue, CATALOG)
    assert isinstance(db, SqlConsoleDB)  # (its writes, reached past the interface)
    await db._write(lambda cur: cur.execute("DROP TABLE audit"))  # the log cannot be written
    food = {"id": "food", "name": "Food", "position": 2}
    await c.error(503, "store_error", "POST", f"{v}/categories", food)
    assert await db.document_version(venue, CATALOG) == version  # nothing appended
    with pytest.raises(UnknownRecord):
        (await stored_venue(db, venue)).catalog.category("food")
    assert (await stored_venue(db, venue)).catalog.category("drinks").name == "Drinks"
