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
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from meshpos.console.records import Alarm
from meshpos.console.server import SHARED_FRESH_S, ConsoleServer
from meshpos.console.tables import TABLES
from meshpos.console.venue_docs import stored_venue, unreported_summary
from meshpos.errors import CorruptRecord, DomainError, InvalidInput, MeshposError, UnknownRecord
from meshpos.httpapi.openapi import document_route
from meshpos.httpapi.routes import Field, Route, choice, match, opt, text
from meshpos.httpapi.schema import MONEY_NOTE, to_json
from meshpos.httpapi.server import PAGE_SECURITY, Handler, HttpError, Request, Response
from meshpos.model import Product, StopEntry, Venue
from meshpos.model.limits import MAX_AMOUNT, MAX_ID_CHARS, MAX_NAME_CHARS, check_value


@dataclass(slots=True)
class ConsoleCall:
    """What a console route's handler gets: the console, the venue of the path, the validated input."""

    console: ConsoleServer
    request: Request
    params: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)

    @property
    def venue(self) -> str:
        return self.params["venue"]


# --- reports ----------------------------------------------------------------------------------------


async def health(c: ConsoleCall) -> dict[str, bool]:
    return {"ok": True}


async def venues(c: ConsoleCall) -> list[str]:
    return await c.console.db.venues()


async def venue_summary(c: ConsoleCall) -> dict[str, str]:
    """What the page's header shows: the venue's name (as ``venue init`` gave it) and the currency its
    money is formatted in (the catalog's settings)."""
    hub = c.console.hubs.get(c.venue)
    venue = hub.venue if hub is not None else await stored_venue(c.console.db, c.venue)
    names = await c.console.db.venue_names()
    return {
        "id": c.venue,
        "name": names.get(c.venue, c.venue),
        "currency": venue.catalog.settings().currency,
    }


async def console_status(c: ConsoleCall) -> dict[str, Any]:
    """This process: the venues it has loaded (a relay connected, an edit) and its counters."""
    return {
        "venues": len(await c.console.db.venues()),
        "loaded": sorted(c.console.hubs),
        "venue_idle_seconds": c.console.venue_idle_seconds,
        "counters": dict(c.console.counters),
    }


async def venue_status(c: ConsoleCall) -> dict[str, Any]:
    """From the database (documents, what is not in the reports, the devices every process heard
    of) and, when this process has the venue loaded, its relays' live heartbeats: no hub is loaded
    for it."""
    hub = c.console.hubs.get(c.venue)
    db = c.console.db
    now = time.time()
    unreported = await db.unreported(c.venue)
    summary: dict[str, Any] = {
        "venue": c.venue,
        "loaded": hub is not None,
        "relays": sorted(set(hub.relays.values())) if hub is not None else [],
        "last_seen": dict(hub.last_seen) if hub is not None else {},
        "documents": await db.documents(c.venue),
        "closed_days": sorted(await db.closed_documents(c.venue)),
        "counters": dict(c.console.venue_counters.get(c.venue, {})),
        "rejections": list(hub.rejections[-20:]) if hub is not None else [],
        "not_materialised": unreported_summary(unreported),
    }
    summary["last_seen_s"] = {n: round(now - t, 1) for n, t in summary["last_seen"].items()}
    stored = await db.register_report(c.venue)
    shared = await c.console.shared_sightings(c.venue)
    # every device: the relays and what they link to (their heartbeats, here or at another console
    # process), what was heard of before, and every register the database holds records from
    presence = hub.sync.presence if hub is not None else {}
    registers = c.console.device_view(c.venue).report(presence, stored, now, shared, SHARED_FRESH_S)
    summary["registers"] = registers
    for node, device in registers.items():  # relays linked to another console process
        if device["relay"] and device["reachable"] and node in shared:
            summary["last_seen_s"].setdefault(node, round(now - shared[node].heard, 1))
    summary["relays"] = sorted(
        {
            *summary["relays"],
            *(n for n, d in registers.items() if d["relay"] and d["reachable"] and n in shared),
        }
    )
    return summary


async def receipts(c: ConsoleCall) -> list[dict[str, Any]]:
    return await c.console.db.receipt_report(c.venue, c.query["date"] or None)


async def shifts(c: ConsoleCall) -> list[dict[str, Any]]:
    return await c.console.db.shift_report(c.venue)


async def _settled(c: ConsoleCall) -> None:
    """What this process received for the venue is in the tables (nothing loads for it)."""
    hub = c.console.hubs.get(c.venue)
    if hub is not None:
        await hub.settle()


async def totals(c: ConsoleCall) -> dict[str, int]:
    await _settled(c)
    return await c.console.db.totals(c.venue)


async def records(c: ConsoleCall) -> list[dict[str, Any]]:
    await _settled(c)
    return await c.console.db.records(c.venue, c.query["table"])


async def alarms(c: ConsoleCall) -> list[Alarm]:
    return await c.console.db.alarms(c.venue)


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

CONSOLE_USER = "console"  # who a stop-list edit is by when the request names nobody
PRODUCT_ID = text("product_id", MAX_ID_CHARS, "the product's id in the catalog")
VENUE = "/api/venues/{venue}"


def _page(path: str, package: str, name: str, content_type: str) -> Route:
    async def serve(c: ConsoleCall) -> Response:
        body = (resources.files(package) / "static" / name).read_bytes()
        return Response(200, body, content_type, dict(PAGE_SECURITY))

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
    _page("/static/console.css", "meshpos.console", "console.css", "text/css; charset=utf-8"),
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
        VENUE,
        venue_summary,
        "The venue's name and currency (the page's header)",
        dict[str, str],
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
        f"{VENUE}/status",
        venue_status,
        "Sync status of the venue and of every device",
        dict[str, Any],
        tag="reports",
        description="`relays`, `last_seen_s`, `documents` (`closed_days`: those out of memory), `counters`, `rejections`, and "
        "`registers`: one entry per device of the venue the console knows of (docs/api.md).",
    ),
    Route(
        "GET",
        f"{VENUE}/receipts",
        receipts,
        "Receipts, with what was refunded of each",
        list[dict[str, Any]],
        tag="reports",
        query=(
            opt(
                "date",
                str,
                "",
                "a business date, YYYY-MM-DD; absent or empty: every day",
                max_chars=MAX_ID_CHARS,
            ),
        ),
    ),
    Route(
        "GET",
        f"{VENUE}/shifts",
        shifts,
        "Shifts with their drawer",
        list[dict[str, Any]],
        tag="reports",
    ),
    Route("GET", f"{VENUE}/totals", totals, "Sums and counts", dict[str, int], tag="reports"),
    Route(
        "GET",
        f"{VENUE}/records",
        records,
        "Every stored row of one table",
        list[dict[str, Any]],
        tag="reports",
        query=(Field("table", choice(*sorted(TABLES)), "which table"),),
    ),
    Route(
        "GET",
        f"{VENUE}/alarms",
        alarms,
        "Records the console refused, conflicts",
        list[Alarm],
        tag="reports",
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
    404: "An unknown venue (unknown_venue) or, in an edit, an unknown product (unknown_product)",
    413: "The request body is over 256 KiB (too_large)",
    409: "An edit of a product whose stored record is unreadable (record_unusable): replace it whole",
    422: "A value breaks a rule of the catalog (unknown_record, domain_error)",
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
            document_route(
                lambda: self.routes, title="meshpos console API", intro=INTRO, errors=ERRORS
            ),
        )

    async def handle(self, request: Request) -> Response:
        route, params = match(self.routes, request)
        if route.auth:
            self._authorise(request)
        if "venue" in params and params["venue"] not in await self.console.db.venues():
            raise HttpError(404, "unknown_venue", f"no venue {params['venue']!r} at this console")
        body, query = route.parse(request)
        try:
            result = await route.handler(ConsoleCall(self.console, request, params, body, query))
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
