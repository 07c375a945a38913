"""The issue's first browser test, as one flow in a real headless Chromium against a real ``meshpos
console`` process (SQLite) and a real register process (``meshpos node``) linked to it: a person
creates on the console page a category, a modifier group, a product with it, a discount and a cashier
with a PIN; a refused value is shown next to its field; the register page shows the new product and
cashier, the cashier logs in with the PIN set at the console and sells the product with its modifier
and the discount; the receipt then appears in the console's Reports -> Receipts and its detail shows
the modifier and the discount; a stop made on the console page reaches the register page; the audit
section lists every change. Screenshots are kept (tests/web/conftest.py ``artifacts``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from meshpos.harness.wait import until
from meshpos.localapi import read_token
from meshpos.model.sample import MANAGER

from ..console.reports_bed import give_manager_a_pin, register_and_console
from .cdp import Browser, Page
from .test_pages_browser import count

PIN = "9753"


def q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


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


@pytest.mark.slow
async def test_a_person_sets_up_a_menu_and_a_cashier_who_then_sells_on_the_register(
    browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    with register_and_console(tmp_path, open_shift=False) as (console, r1, venue):
        token = read_token(tmp_path / "console" / "console-admin.token")

        async def console_has_the_registers_catalog() -> bool:
            menu = await asyncio.to_thread(console.call, "GET", f"/api/venues/{venue}/menu")
            return bool(menu["taxes"])

        # the register brings its catalog (the sample's taxes) up to the console through its relay
        await until(console_has_the_registers_catalog, 30, "the register's catalog at the console")
        page = await browser.new_page("console menu")
        await page.goto(f"{console.ready['api']}/?token={token}#menu")
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
        # is imported; a good one is, also with old Mac line endings (CR only: Excel for Mac
        # before 2016 wrote them, and the page sent the whole file as one line with a U+000D)
        await import_csv(page, tmp_path / "bad.csv", "id,name,price\ntart,Tart,400\nbun,Bun,abc\n")
        await page.wait(
            f"{q('#import-form .field-error')}?.innerText.startsWith('line 3, column 3 (price)')",
            what="the CSV's bad line and column",
        )
        assert "Tart" not in await page.text("#products")
        await import_csv(
            page,
            tmp_path / "menu.csv",
            "id,name,category,price\rtart,Tart,pastry,400\rbun,Bun,pastry,250\r",
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
        await submit(page, "role-form", "roles", "cash, close_shift, discount, open_shift, sell")
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
        await page.click("#settings-form [name=blind_count]")  # cashiers count the drawer blind
        await page.click("#settings-form button[type=submit]")
        await page.wait(
            f"{q('#venue-name')}.innerText === 'Scone Corner'", what="the new name in the header"
        )
        await page.click("#tabs button[data-tab=audit]")
        await page.wait(f"{q('#audit')}?.innerText.includes('user.put')", what="the audit log")
        assert page.errors == []

        # the register page: the new cashier logs in with the PIN and sells the scone with jam
        register = await browser.new_page("register (R1)")
        await register.goto(f"{r1.api}/")
        await register.wait(
            f"{q('#venue')}?.innerText === 'Scone Corner'", timeout=15, what="the venue's name"
        )
        await register.click("#users button[data-user=u-zoe]", timeout=15)
        await register.fill("#pin", PIN)
        await register.click("#login-button")
        await register.click("#open-shift")
        await register.wait(f"!{q('#sell')}.hidden", what="the sell screen")
        # the discount, for the next item: one a cashier may not give alone is marked as needing a
        # manager's approval (asked on the spot)
        await register.click("#discount-button")
        needs = await register.eval(
            "Object.fromEntries(Array.from(document.querySelectorAll('#discount-choices button'), "
            "b => [b.dataset.discount, b.dataset.approval || '']))"
        )
        assert needs["regular"] == ""
        assert needs["staff"] == ""  # the sample's: it names no role
        assert needs["boss"] == "needed"  # managers only
        await register.click("#discount-choices [data-discount=regular]")
        await register.wait(f"!{q('#line-discount')}.hidden", what="the discount for the next item")
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
        # the blind count saved with the venue's name: the register hides the expected cash
        report = await asyncio.to_thread(r1.call, "GET", "/api/shifts/current/report")
        assert (report["receipts"], report["drawer_expected"]) == (1, None)
        # the receipt in the console's Reports -> Receipts, its detail with the modifier and discount
        await page.click("#tabs button[data-tab=reports]")
        await page.wait(
            f"{count('#receipts tbody tr')} === 1",
            timeout=30,
            what="the register's receipt in Reports -> Receipts",
        )
        await page.click("#receipts tbody tr td")
        await page.wait(f"!{q('#receipt-detail')}.hidden", what="the receipt's detail")
        line = await page.eval(
            "Array.from(document.querySelectorAll('#detail-lines tbody td'), td => td.innerText)"
        )
        assert "Scone" in line[0]
        assert "Apricot jam" in line[0]
        assert "(regular)" in line[3]  # the line's discount, by its id
        assert line[4] == "€3.15"  # the console formats with the currency's sign
        assert "Zoe" in await page.text("#detail-facts")
        await page.screenshot(artifacts / "4-console-reports-receipt-detail.png")
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
        await register.screenshot(artifacts / "5-register-shows-console-stop.png")
        assert register.errors == []


@pytest.mark.slow
async def test_a_venue_set_up_in_yen_sells_and_reports_without_decimals(
    browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    """A currency without decimals on both pages. The venue is set to yen before its first sale (a
    selling venue keeps its currency: ``tests/console/test_console_currency_change.py``); the sample's
    latte, 390 minor units, is then 390 yen on the register and at the console; a price typed with
    decimals is refused; the shift opens and the sale is paid on the register page (both were refused
    in yen: the float and the tip were filled in as 100.00 and 0.00); its total is yen in the
    console's reports; and once the console holds that sale, the page refuses a change back to euros
    next to the currency, naming both."""
    with register_and_console(tmp_path, open_shift=False) as (console, r1, venue):
        token = read_token(tmp_path / "console" / "console-admin.token")
        give_manager_a_pin(
            console, r1, venue, PIN
        )  # also: the console holds the register's catalog
        page = await browser.new_page("console in yen")
        await page.goto(f"{console.ready['api']}/?token={token}#menu")
        await page.wait(q("#category-form"), timeout=10, what="the Menu section")
        await page.click("#tabs button[data-tab=settings]")
        await page.fill("#settings-form [name=currency]", "JPY")
        await page.click("#settings-form button[type=submit]")
        await page.wait(
            f"{q('#settings-form .form-status')}?.innerText === 'saved'", what="the yen saved"
        )

        register = await browser.new_page("register in yen")
        await register.goto(f"{r1.api}/")
        await register.click(f"#users button[data-user={MANAGER}]", timeout=15)
        await register.fill("#pin", PIN)
        await register.click("#login-button")
        await register.click("#open-shift")
        await register.wait(f"!{q('#sell')}.hidden", what="the sell screen")
        await register.click("#categories [data-category=Coffee]")
        await register.wait(
            f"{q('#products [data-product=latte] .price')}?.innerText === '390'",
            timeout=15,
            what="the latte's price in yen on the register",
        )
        await page.click("#tabs button[data-tab=menu]")
        await page.wait(
            f"{q('#products')}?.innerText.includes('390 JPY')",
            what="the price in yen at the console",
        )
        await page.fill("#product-form [name=id]", "mochi")
        await page.fill("#product-form [name=name]", "Mochi")
        await page.fill("#product-form [name=price]", "2.50")
        await page.click("#product-form button[type=submit]")
        await page.wait(
            f"{q('#product-form [name=price]')}.closest('label').nextElementSibling"
            "?.innerText.includes('like 390')",
            what="yen typed with decimals refused next to the price",
        )
        await page.fill("#product-form [name=price]", "250")
        await choose(page, "#product-form [name=category]", "Bakery")
        await choose(page, "#product-form [name=tax_id]", "vat10")
        await submit(page, "product-form", "products", "250 JPY")
        await register.click("#categories [data-category=Bakery]")
        await register.wait(
            f"{q('#products [data-product=mochi] .price')}?.innerText === '250'",
            timeout=15,
            what="the mochi at 250 yen on the register",
        )
        await register.click("#products [data-product=mochi]")
        await register.wait(f"{count('#lines li')} === 1", what="the mochi's line")
        assert await register.text("#totals [data-total=total]") == "250 JPY"
        await register.click("#pay-button")
        await register.click("#pay-form input[value=card]")
        await register.click("#pay-confirm")
        await register.wait(f"{q('#receipt-dialog')}.open", what="the receipt")
        assert await register.text("#receipt-totals [data-total=total]") == "250 JPY"
        await register.screenshot(artifacts / "1-register-sells-in-yen.png")
        await register.click("#receipt-done")
        # the console's reports in yen: the sale's 250 minor units are 250 yen
        await page.click("#tabs button[data-tab=reports]")
        await page.wait(
            f"{q('#receipts tbody tr')}?.innerText.includes('¥250')",
            timeout=30,
            what="the receipt's total in yen in Reports -> Receipts",
        )
        await page.screenshot(artifacts / "2-console-reports-in-yen.png")
        # the console holds a sale in yen now: euros are refused next to the currency, naming both
        await page.click("#tabs button[data-tab=settings]")
        await page.fill("#settings-form [name=currency]", "EUR")
        await page.click("#settings-form button[type=submit]")
        refusal = (
            f"{q('#settings-form [name=currency]')}.closest('label').nextElementSibling?.innerText"
        )
        await page.wait(f"({refusal} || '').includes('make a new venue')", what="the refusal")
        message = await page.eval(refusal)
        assert "JPY" in message
        assert "EUR" in message
        await page.screenshot(artifacts / "3-console-keeps-yen.png")
        assert page.errors == []
        assert register.errors == []
