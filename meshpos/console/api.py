"""The console's JSON API for people's pages and scripts (admin token): reports, sync status, edits.

Reports come from the relational tables (what was materialised); sync status from the live hubs. Edits
(products, prices, stop list) run through the model's rules on the console's replica of the venue and flow
down to every register through the relay.

One route table (``Route`` and ``Field`` from meshpos.httpapi, as the node's API) validates every request and
writes the OpenAPI document served at ``/api/openapi.json``: every value the console accepts is bounded by
meshpos.model.limits before it reaches a document, because a value a register cannot read back (a price of
2**62, a lone surrogate) would stop every register of the venue from selling. A refused request is 400 with
``{"error": {"code", "message"}}`` naming the field, and changes nothing.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import time
from importlib import resources
from typing import Any

from meshpos.console.api_reports import REPORT_ROUTES
from meshpos.console.calls import CONSOLE_USER, VENUE, ConsoleCall
from meshpos.console.server import ConsoleServer
from meshpos.console.venue_docs import stored_venue
from meshpos.errors import CorruptRecord, DomainError, InvalidInput, MeshposError, UnknownRecord
from meshpos.httpapi.openapi import api_version, document, document_route
from meshpos.httpapi.routes import Field, Route, match, opt, text
from meshpos.httpapi.schema import MONEY_NOTE, to_json
from meshpos.httpapi.server import Handler, HttpError, Request, Response
from meshpos.model import Product, StopEntry, Venue
from meshpos.model.limits import MAX_AMOUNT, MAX_ID_CHARS, MAX_NAME_CHARS, check_value

# --- reports ----------------------------------------------------------------------------------------


async def health(c: ConsoleCall) -> dict[str, bool]:
    return {"ok": True}


async def venues(c: ConsoleCall) -> list[str]:
    return await c.console.db.venues()


async def console_status(c: ConsoleCall) -> dict[str, Any]:
    """This process: the venues it has loaded (a relay connected, an edit) and its counters."""
    return {
        "venues": len(await c.console.db.venues()),
        "loaded": sorted(c.console.hubs),
        "venue_idle_seconds": c.console.venue_idle_seconds,
        "counters": dict(c.console.counters),
    }


async def catalog(c: ConsoleCall) -> list[dict[str, Any]]:
    hub = c.console.hubs.get(c.venue)
    # not loaded here: the catalog and stop list as the database holds them (no hub loads)
    venue = hub.venue if hub is not None else await stored_venue(c.console.db, c.venue)
    products = venue.catalog.products()
    stopped = {p.id: venue.stoplist.is_stopped(p.id) for p in products}
    return [dataclasses.asdict(p) | {"stopped": stopped[p.id]} for p in products]


# --- edits ------------------------------------------------------------------------------------------


def _storable(product: Product) -> Product:
    """The product, once every value of it is known to be writable whole (limits.check_value): the last
    guard before pycrdt, which panics half-way through a write on a value it cannot encode."""
    check_value(dataclasses.asdict(product), f"product {product.id!r}")
    return product


async def put_product(c: ConsoleCall) -> Product:
    b = c.body
    product = _storable(
        Product(
            id=b["id"],
            name=b["name"],
            price=b["price"],
            category=b["category"],
            tax_id=b["tax_id"],
            modifier_groups=tuple(b["modifier_groups"]),
            active=b["active"],
        )
    )

    def change(v: Venue) -> Product:
        v.catalog.put_product(product)
        return product

    async with c.console.using(c.venue) as hub:
        return await hub.edit(change)


async def set_price(c: ConsoleCall) -> Product:
    product_id, price = c.body["product_id"], c.body["price"]

    def change(v: Venue) -> Product:
        updated = _storable(dataclasses.replace(v.catalog.product(product_id), price=price))
        v.catalog.put_product(updated)
        return updated

    async with c.console.using(c.venue) as hub:
        return await hub.edit(change)


async def set_stop(c: ConsoleCall) -> StopEntry:
    product_id, stopped, user = c.body["product_id"], c.body["stopped"], c.body["user"]

    def change(v: Venue) -> StopEntry:
        v.catalog.product(product_id)
        if user != CONSOLE_USER:
            v.catalog.user(user)  # an unknown user is refused, not written into the stop list
        return v.stoplist.set(
            product_id,
            stopped,
            user=user,
            device="console",
            clock=v.clock,
            now_ms=int(time.time() * 1000),
        )

    async with c.console.using(c.venue) as hub:
        return await hub.edit(change)


# --- the route table --------------------------------------------------------------------------------

PRODUCT_ID = text("product_id", MAX_ID_CHARS, "the product's id in the catalog")


def _page(path: str, package: str, name: str, content_type: str) -> Route:
    async def serve(c: ConsoleCall) -> Response:
        body = (resources.files(package) / "static" / name).read_bytes()
        return Response(200, body, content_type)

    return Route(
        "GET",
        path,
        serve,
        f"{name}",
        auth=False,
        tag="pages",
        content_type=content_type,
        operation=f"page_{re.sub(r'[^a-z]', '_', name)}",
    )


BASE_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/health",
        health,
        "Whether the console answers",
        dict[str, bool],
        auth=False,
        tag="system",
    ),
    # the reports page shares the register pages' stylesheet (meshpos/web/static/app.css)
    _page("/", "meshpos.console", "console.html", "text/html; charset=utf-8"),
    _page("/static/console.js", "meshpos.console", "console.js", "text/javascript; charset=utf-8"),
    _page(
        "/static/console_reports.js",
        "meshpos.console",
        "console_reports.js",
        "text/javascript; charset=utf-8",
    ),
    _page("/static/app.css", "meshpos.web", "app.css", "text/css; charset=utf-8"),
    Route(
        "GET",
        "/api/venues",
        venues,
        "The ids of the venues at this console",
        list[str],
        tag="reports",
    ),
    Route(
        "GET",
        "/api/console",
        console_status,
        "This console process: venues, the ones loaded in memory, counters",
        dict[str, Any],
        tag="reports",
        description="`loaded`: the venues whose documents this process holds (a relay is connected "
        "or an edit ran within `venue_idle_seconds`); every other venue is in the database only.",
    ),
    Route(
        "GET",
        f"{VENUE}/catalog",
        catalog,
        "The catalog's products, each with `stopped`",
        list[dict[str, Any]],
        tag="catalog",
    ),
    Route(
        "POST",
        f"{VENUE}/products",
        put_product,
        "Add a product or replace it whole",
        Product,
        tag="catalog",
        body=(
            text("id", MAX_ID_CHARS, "the product's id; an existing product is replaced"),
            text("name", MAX_NAME_CHARS),
            Field("price", int, "the price", minimum=0, maximum=MAX_AMOUNT),
            text("category", MAX_NAME_CHARS, default=""),
            opt("tax_id", str | None, None, "a tax of the catalog", max_chars=MAX_ID_CHARS),
            opt("modifier_groups", list[str], [], "groups of the catalog", max_chars=MAX_ID_CHARS),
            opt("active", bool, True),
        ),
    ),
    Route(
        "POST",
        f"{VENUE}/prices",
        set_price,
        "Change a product's price",
        Product,
        tag="catalog",
        body=(PRODUCT_ID, Field("price", int, "the price", minimum=0, maximum=MAX_AMOUNT)),
    ),
    Route(
        "POST",
        f"{VENUE}/stoplist",
        set_stop,
        "Stop a product or make it available again",
        StopEntry,
        tag="catalog",
        body=(
            PRODUCT_ID,
            Field("stopped", bool),
            text("user", MAX_ID_CHARS, "a user of the catalog, or `console`", default=CONSOLE_USER),
        ),
    ),
)

ERRORS = {
    400: "Bad JSON, or a missing, unknown, wrongly typed or out-of-bounds field (bad_json, "
    "missing_field, unknown_field, bad_field, unexpected_body, bad_request, invalid_input)",
    401: "No admin token or a wrong one (wrong_token)",
    404: "An unknown venue (unknown_venue), receipt (unknown_receipt) or, in an edit, an unknown "
    "product (unknown_product)",
    413: "The request body is over 256 KiB (too_large)",
    409: "An edit of a product whose stored record is unreadable (record_unusable): replace it whole",
    422: "A value breaks a rule of the catalog (unknown_record, domain_error), or a report's "
    "range of days is not one (bad_range: reversed, too long, a day not on the calendar)",
    503: "The console's database cannot write now (store_error)",
}

INTRO = f"""\
The JSON API of a meshpos console: reports of what the venues' registers uploaded, sync status, and the
catalog edits that flow down to every register through the venue's relay.

* **Money** is always an integer number of **minor units** (cents): {MONEY_NOTE}.
* **Authentication**: `Authorization: Bearer <console admin token>` (`meshpos console --token-file`).
* **Bounds**: every value has the bounds in its schema; anything else is refused with 400 and nothing is
  stored.
* **Errors**: `{{"error": {{"code", "message"}}}}`. Clients branch on `code`, which is stable; `message` is
  for people and names the field.
"""


class ConsoleApi:
    def __init__(self, console: ConsoleServer, admin_token: str) -> None:
        self.console = console
        self.admin_token = admin_token
        self.routes: tuple[Route, ...] = (
            *BASE_ROUTES,
            *REPORT_ROUTES,
            document_route(self.openapi),
        )
        self._document: dict[str, Any] | None = None

    async def openapi(self, c: ConsoleCall) -> dict[str, Any]:
        if self._document is None:
            self._document = document(
                self.routes,
                api_version(),
                title="meshpos console API",
                intro=INTRO,
                errors=ERRORS,
            )
        return self._document

    async def handle(self, request: Request) -> Response:
        route, params = match(self.routes, request)
        if route.auth:
            self._authorise(request)
        if "venue" in params and params["venue"] not in await self.console.db.venues():
            raise HttpError(404, "unknown_venue", f"no venue {params['venue']!r} at this console")
        body, query = route.parse(request)
        try:
            result = await route.handler(ConsoleCall(self.console, request, params, body, query))
        except HttpError:  # a handler's own answer (a report's bad range, an unknown receipt)
            raise
        except UnknownRecord as exc:
            raise HttpError(404, exc.code, exc.message) from None
        except InvalidInput as exc:  # a value limits.check_value refused: nothing was written
            raise HttpError(400, exc.code, exc.message) from None
        except CorruptRecord as exc:  # e.g. a product a peer wrote out of bounds: replace it whole
            raise HttpError(
                409, exc.code, f"{exc.message}; replace it whole (POST {VENUE}/products)"
            ) from None
        except DomainError as exc:
            raise HttpError(422, exc.code, exc.message) from None
        except MeshposError as exc:  # the console's database
            raise HttpError(
                503, exc.code, f"the console cannot answer now: {exc.message}"
            ) from None
        if isinstance(result, Response):
            return result
        return Response.json(to_json(result), route.status)

    def _authorise(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.admin_token.encode()
        ):
            raise HttpError(401, "wrong_token", "send Authorization: Bearer <console admin token>")


def make_console_handler(console: ConsoleServer, admin_token: str) -> Handler:
    return ConsoleApi(console, admin_token).handle
