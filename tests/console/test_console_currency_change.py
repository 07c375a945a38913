"""A venue's currency is not changed once the console holds its sales (the twenty-third session; part
``outside`` of the tenth round found the menu copy's case and left this one).

Amounts are whole minor units of the venue's currency (a receipt's 250 is EUR 2.50). A manager who
changed a selling venue's currency from EUR to JPY on the Settings tab made every past receipt, report
and price read as yen (¥250), with nothing said. Now the change is refused (``422 domain_error``) naming
both currencies, with nothing written, once the console holds a receipt of the venue; a venue without
sales still sets its currency (set-up), and the other settings still change.
"""

from __future__ import annotations

from typing import Any

from meshpos.console import ConsoleDB, materialise
from meshpos.console.api import make_console_handler
from meshpos.console.server import ConsoleServer
from meshpos.httpapi.server import HttpServer

from ..web.kit import Client
from .conftest import VENUE
from .day import LEDGER, NOW, ledger_doc, simulate_day

TOKEN = "console-admin-token"
SETTINGS = f"/api/venues/{VENUE}/settings"


async def _changed(client: Client, **fields: Any) -> tuple[int, str, dict[str, Any]]:
    """Post the settings with ``fields`` changed: the answer's status and error code, and the
    settings the console holds after."""
    before = await client.ok("GET", SETTINGS)
    answer = await client.call("POST", SETTINGS, {**before, **fields})
    after: dict[str, Any] = await client.ok("GET", SETTINGS)
    return answer.status, answer.code if answer.status >= 400 else "", after


async def test_a_venue_with_sales_keeps_its_currency_and_one_without_sets_it(
    venue_db: ConsoleDB,
) -> None:
    r1, _r2 = simulate_day()
    await venue_db.append_updates(VENUE, "catalog", [r1.replica.doc("catalog").get_update()])
    server = ConsoleServer(venue_db, "127.0.0.1", 0)
    api = HttpServer(make_console_handler(server, TOKEN), "127.0.0.1", 0)
    await api.start()
    try:
        base = f"http://127.0.0.1:{api.port}"
        client = Client(base, TOKEN, await Client(base, "").ok("GET", "/api/openapi.json"))
        held = (await client.ok("GET", SETTINGS))["currency"]
        other = "JPY" if held != "JPY" else "EUR"
        # no sale at the console yet: the currency is set up (and set back)
        assert (await _changed(client, currency=other))[:2] == (200, "")
        assert (await _changed(client, currency=held))[:2] == (200, "")

        await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
        status, code, after = await _changed(client, currency=other)
        assert (status, code) == (422, "domain_error")  # before: 200, every amount read as yen
        assert after["currency"] == held
        message = await client.error(
            422,
            "domain_error",
            "POST",
            SETTINGS,
            {**await client.ok("GET", SETTINGS), "currency": other},
        )
        for word in (held, other, VENUE, "make a new venue"):
            assert word in message, (word, message)
        # the other settings still change
        status, code, after = await _changed(client, receipt_footer="Merci !")
        assert (status, code, after["receipt_footer"], after["currency"]) == (
            200,
            "",
            "Merci !",
            held,
        )
    finally:
        await api.stop()
