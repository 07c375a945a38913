"""The console's Menu and Staff sections in a real headless Chromium, against a console and two real
register nodes linked to it: a person creates a category, a modifier group, a product with it, a discount
and a cashier with a PIN; a refused value is shown next to its field; the register page shows the new
product and cashier, the cashier logs in with the PIN set at the console and sells the product with its
modifier; a stop made on the console page reaches the register page; the audit section lists every
change. Screenshots are kept (tests/web/conftest.py ``artifacts``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.console.api import make_console_handler
from meshpos.harness.wait import until
from meshpos.httpapi.server import HttpServer
from meshpos.trust import load_venue

from ..relay.consoles import Console, running_console
from .cdp import Browser, Page
from .conftest import running
from .kit import make_configs

ADMIN = "admin-secret"
PIN = "9753"


def q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


@pytest.fixture
def venue(tmp_path: Path) -> tuple[list[Config], Path]:
    return make_configs(tmp_path, [("R1", "register"), ("R2", "register")]), tmp_path / "venue"


@pytest.fixture
async def console(venue: tuple[list[Config], Path]) -> AsyncIterator[Console]:
    async with running_console(venue[1].parent, [venue[1]]) as running_:
        yield running_


async def choose(page: Page, selector: str, value: str) -> None:
    """Pick an option of a <select> as a person's choice would (the value, then a change event)."""
    await page.wait(
        f"{q(selector)}?.querySelector('option[value={json.dumps(value)}]')", what=value
    )
    await page.eval(
        f"(() => {{ const s = {q(selector)}; s.value = {json.dumps(value)};"
        " s.dispatchEvent(new Event('change')); })()"
    )


async def import_csv(page: Page, path: Path, text: str) -> None:
    """Choose ``text`` as a CSV file in the import form (as a person picks a file) and import it."""
    await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    root = await page.send("DOM.getDocument", {})
    found = await page.send(
        "DOM.querySelector",
        {"nodeId": root["root"]["nodeId"], "selector": "#import-form [name=file]"},
    )
    await page.send("DOM.setFileInputFiles", {"files": [str(path)], "nodeId": found["nodeId"]})
    await page.click("#import-form button[type=submit]")


async def submit(page: Page, form: str, table: str, shows: str) -> None:
    await page.click(f"#{form} button[type=submit]")
    await page.wait(
        f"{q('#' + table)}?.innerText.includes({json.dumps(shows)})", timeout=10, what=shows
    )


async def test_a_person_sets_up_a_menu_and_a_cashier_who_then_sells_on_the_register(
    venue: tuple[list[Config], Path],
    console: Console,
    browser: Browser,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    configs, venue_dir = venue
    token = load_venue(venue_dir).console_token
    linked = [dataclasses.replace(c, console_url=console.url, console_token=token) for c in configs]
    pages = HttpServer(make_console_handler(console.server, ADMIN), "127.0.0.1", 0)
    await pages.start()
    try:
        async with running(linked) as (r1, _r2):
            await until(lambda: r1.venue_id in console.server.hubs, 15, "the relay at the console")
            page = await browser.new_page("console menu")
            await page.goto(f"http://127.0.0.1:{pages.port}/?token={ADMIN}#menu")
            await page.wait(q("#category-form"), timeout=10, what="the Menu section")

            await page.fill("#category-form [name=id]", "pastry")
            await page.fill("#category-form [name=name]", "Pastry")
            await submit(page, "category-form", "categories", "Pastry")

            await page.fill("#group-form [name=id]", "jam")
            await page.fill("#group-form [name=name]", "Jam")
            await page.fill("#group-form [name=modifiers]", "apricot, Apricot jam, 0.30")
            await submit(page, "group-form", "modifier-groups", "Apricot jam")

            # a price that is not an amount is refused next to the field, nothing is sent
            await page.fill("#product-form [name=id]", "scone")
            await page.fill("#product-form [name=name]", "Scone")
            await page.fill("#product-form [name=price]", "three")
            await page.click("#product-form button[type=submit]")
            await page.wait(
                f"{q('#product-form [name=price]')}.closest('label').nextElementSibling"
                "?.classList.contains('field-error')",
                what="the price's error next to it",
            )
            # a value the API refuses: its message is shown next to the field it names
            await page.fill("#product-form [name=id]", "scone/1")
            await page.fill("#product-form [name=price]", "3.20")
            await page.click("#product-form button[type=submit]")
            await page.wait(
                f"{q('#product-form [name=id]')}.closest('label').nextElementSibling"
                "?.innerText.includes(\"no '/'\")",
                what="the API's refusal of the id next to it",
            )
            await page.screenshot(artifacts / "1-console-refused-value.png")
            await page.fill("#product-form [name=id]", "scone")
            await choose(page, "#product-form [name=category]", "pastry")
            await choose(page, "#product-form [name=tax_id]", "vat10")
            await page.click("#product-form input[name=modifier_groups][value=jam]")
            await submit(page, "product-form", "products", "Scone")

            # a CSV menu from a spreadsheet: a bad one is refused naming line and column, nothing
            # is imported; a good one is
            await import_csv(
                page, tmp_path / "bad.csv", "id,name,price\ntart,Tart,400\nbun,Bun,abc\n"
            )
            await page.wait(
                f"{q('#import-form .field-error')}?.innerText.startsWith('line 3, column 3 (price)')",
                what="the CSV's bad line and column",
            )
            assert "Tart" not in await page.text("#products")
            await import_csv(
                page,
                tmp_path / "menu.csv",
                "id,name,category,price\ntart,Tart,pastry,400\nbun,Bun,pastry,250\n",
            )
            await page.wait(
                f"{q('#import-form .form-status')}?.innerText === '2 products imported, 0 categories created'",
                what="the import's result",
            )
            assert "Tart" in await page.text("#products")

            await page.fill("#discount-form [name=id]", "regular")
            await page.fill("#discount-form [name=name]", "Regulars 10 %")
            await page.fill("#discount-form [name=value]", "10")
            await page.click("#discount-form input[name=roles][value=cashier]")
            await submit(page, "discount-form", "discounts", "Regulars 10 %")
            await page.fill("#discount-form [name=id]", "boss")
            await page.fill("#discount-form [name=name]", "Managers 30 %")
            await page.fill("#discount-form [name=value]", "30")
            await page.click("#discount-form input[name=roles][value=manager]")
            await submit(page, "discount-form", "discounts", "Managers 30 %")

            await page.click("#tabs button[data-tab=staff]")
            await page.fill("#user-form [name=id]", "u-zoe")
            await page.fill("#user-form [name=name]", "Zoe")
            await choose(page, "#user-form [name=role]", "cashier")
            await page.fill("#user-form [name=pin]", PIN)
            await submit(page, "user-form", "users", "Zoe")
            # cashiers may give discounts from now on
            await page.fill("#role-form [name=name]", "cashier")
            for right in ("sell", "open_shift", "close_shift", "cash", "discount"):
                await page.click(f"#role-form input[name=rights][value={right}]")
            await submit(
                page, "role-form", "roles", "cash, close_shift, discount, open_shift, sell"
            )
            await page.screenshot(artifacts / "2-console-menu-and-staff.png")
            await page.click("#tabs button[data-tab=settings]")
            await page.fill("#settings-form [name=name]", "Scone Corner")
            await page.fill("#settings-form [name=receipt_footer]", "Merci, à bientôt")
            await page.fill("#settings-form [name=day_cutoff_hour]", "25")
            await page.click("#settings-form button[type=submit]")
            await page.wait(
                f"{q('#settings-form [name=day_cutoff_hour]')}.closest('label').nextElementSibling"
                "?.classList.contains('field-error')",
                what="the hour's error next to it",
            )
            await page.fill("#settings-form [name=day_cutoff_hour]", "4")
            await page.click("#settings-form button[type=submit]")
            await page.click("#tabs button[data-tab=audit]")
            await page.wait(f"{q('#audit')}?.innerText.includes('user.put')", what="the audit log")
            assert page.errors == []

            # the register page: the new cashier logs in with the PIN and sells the scone with jam
            register = await browser.new_page("register (R1)")
            await register.goto(f"{r1.api_url}/")
            await register.wait(
                f"{q('#venue')}?.innerText === 'Scone Corner'", timeout=15, what="the venue's name"
            )
            await register.click("#users button[data-user=u-zoe]", timeout=15)
            await register.fill("#pin", PIN)
            await register.click("#login-button")
            await register.click("#open-shift")
            await register.wait(f"!{q('#sell')}.hidden", what="the sell screen")
            # the discount, for the next item: only discounts a cashier may give are offered
            await register.click("#discount-button")
            offered = await register.eval(
                "Array.from(document.querySelectorAll('#discount-choices button'), b => b.dataset.discount)"
            )
            assert "regular" in offered
            assert "staff" in offered  # the sample's: it names no role
            assert "boss" not in offered  # managers only
            await register.click("#discount-choices [data-discount=regular]")
            await register.wait(
                f"!{q('#line-discount')}.hidden", what="the discount for the next item"
            )
            await register.click("#categories [data-category=Pastry]")
            await register.click("#products [data-product=scone]")
            await register.click("#modifier-groups input[value=apricot]")
            await register.click("#modifiers-add")
            await register.wait(
                f"{q('#lines li')}?.innerText.includes('Apricot jam')", what="the scone with jam"
            )
            await register.wait(
                f"{q('#lines li')}?.innerText.includes('Regulars 10 %')", what="the line's discount"
            )
            assert await register.text("#totals [data-total=total]") == "3.15 EUR"  # 3.50 less 10 %
            await register.click("#pay-button")
            await register.click("#pay-form input[value=card]")
            await register.click("#pay-confirm")
            await register.wait(f"{q('#receipt-dialog')}.open", what="the receipt")
            assert await register.text("#receipt-totals [data-total=total]") == "3.15 EUR"
            assert await register.text("#receipt-footer") == "Merci, à bientôt"
            await register.screenshot(artifacts / "3-register-sells-console-product.png")
            await register.click("#receipt-done")
            # a stop made on the console page reaches the register page
            await page.click("#tabs button[data-tab=menu]")
            await page.click("#products button[data-stop=scone]")
            await register.wait(
                f"{q('#products [data-product=scone]')}?.classList.contains('stopped')",
                timeout=15,
                what="the scone stopped on the register",
            )
            await page.wait(
                f"{q('#products button[data-stop=scone]')}?.innerText.startsWith('stopped')",
                what="the console showing the stop",
            )
            await register.screenshot(artifacts / "4-register-shows-console-stop.png")
            discounts = {d.id: d for d in r1.discounts()}
            assert discounts["regular"].roles == ("cashier",)
            assert register.errors == []
    finally:
        await pages.stop()
