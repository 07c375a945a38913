"""The console's JSON API for people's pages and scripts (admin token): reports, sync status, edits.

Reports come from the relational tables (what was materialised); sync status from the live hubs. Edits
(price, stop list) run through the model's rules on the console's replica of the venue and flow down to every
register through the relay.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from meshpos.console.server import ConsoleServer
from meshpos.errors import DomainError, UnknownRecord
from meshpos.web.http import Handler, HttpError, Request, Response

Route = Callable[[ConsoleServer, str, Request], Awaitable[Any]]
ROUTES: list[tuple[str, re.Pattern[str], str]] = []


KIND_NAMES = {int: "an integer", str: "a string", bool: "true or false"}


def _body(request: Request, allowed: set[str]) -> dict[str, Any]:
    body = request.json()
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HttpError(
            400,
            "unknown_field",
            f"unknown field(s) {', '.join(unknown)}; allowed: {sorted(allowed)}",
        )
    return body


def _body_field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        raise HttpError(400, "missing_field", f"field {name!r} is required")
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise HttpError(400, "bad_field", f"field {name!r} must be {KIND_NAMES.get(kind, kind)}")
    return value


async def venue_status(console: ConsoleServer, venue: str, request: Request) -> Any:
    hub = await console.hub(venue)
    now = time.time()
    summary = hub.summary()
    summary["last_seen_s"] = {n: round(now - t, 1) for n, t in hub.last_seen.items()}
    stored = await console.db.register_report(venue)
    # every device: the relays and what they link to (their heartbeats), what was heard of before,
    # and every register the database holds records from
    summary["registers"] = console.device_view(venue).report(hub.sync.presence, stored, now)
    return summary


async def receipts(console: ConsoleServer, venue: str, request: Request) -> Any:
    date = request.query.get("date", [None])[0]
    return await console.db.receipt_report(venue, date)


async def shifts(console: ConsoleServer, venue: str, request: Request) -> Any:
    return await console.db.shift_report(venue)


async def totals(console: ConsoleServer, venue: str, request: Request) -> Any:
    hub = await console.hub(venue)
    await hub.settle()
    return await console.db.totals(venue)


async def records(console: ConsoleServer, venue: str, request: Request) -> Any:
    from meshpos.console.tables import TABLES

    table = request.query.get("table", [""])[0]
    if table not in TABLES:
        raise HttpError(400, "bad_field", f"table must be one of {', '.join(sorted(TABLES))}")
    hub = await console.hub(venue)
    await hub.settle()
    return await console.db.records(venue, table)


async def alarms(console: ConsoleServer, venue: str, request: Request) -> Any:
    return [dataclasses.asdict(a) for a in await console.db.alarms(venue)]


async def catalog(console: ConsoleServer, venue: str, request: Request) -> Any:
    hub = await console.hub(venue)
    products = hub.venue.catalog.products()
    stopped = {p.id: hub.venue.stoplist.is_stopped(p.id) for p in products}
    return [dataclasses.asdict(p) | {"stopped": stopped[p.id]} for p in products]


async def set_price(console: ConsoleServer, venue: str, request: Request) -> Any:
    body = _body(request, {"product_id", "price"})
    product_id = _body_field(body, "product_id", str)
    price = _body_field(body, "price", int)
    if price < 0:
        raise HttpError(422, "invalid_amount", f"price {price} is negative")
    hub = await console.hub(venue)

    def change(v: Any) -> Any:
        product = v.catalog.product(product_id)
        updated = dataclasses.replace(product, price=price)
        v.catalog.put_product(updated)
        return updated

    return await hub.edit(change)


async def set_stop(console: ConsoleServer, venue: str, request: Request) -> Any:
    body = _body(request, {"product_id", "stopped", "user"})
    product_id = _body_field(body, "product_id", str)
    stopped = _body_field(body, "stopped", bool)
    user = body.get("user", "console")
    hub = await console.hub(venue)

    def change(v: Any) -> Any:
        v.catalog.product(product_id)
        if user != "console":
            v.catalog.user(user)  # an unknown user is refused, not written into the stop list
        return v.stoplist.set(
            product_id,
            stopped,
            user=user,
            device="console",
            clock=v.clock,
            now_ms=int(time.time() * 1000),
        )

    return await hub.edit(change)


TABLE: list[tuple[str, str, Route]] = [
    ("GET", "status", venue_status),
    ("GET", "receipts", receipts),
    ("GET", "shifts", shifts),
    ("GET", "totals", totals),
    ("GET", "catalog", catalog),
    ("GET", "records", records),
    ("GET", "alarms", alarms),
    ("POST", "prices", set_price),
    ("POST", "stoplist", set_stop),
]
# the reports page shares the register pages' stylesheet (meshpos/web/static/app.css)
PAGES = {
    "/": ("meshpos.console", "console.html", "text/html; charset=utf-8"),
    "/static/console.js": ("meshpos.console", "console.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("meshpos.web", "app.css", "text/css; charset=utf-8"),
}
_PATH = re.compile(r"^/api/venues/(?P<venue>[A-Za-z0-9_.-]{1,64})/(?P<what>[a-z]+)$")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def make_console_handler(console: ConsoleServer, admin_token: str) -> Handler:
    async def handle(request: Request) -> Response:
        if request.path == "/health":
            return Response.json({"ok": True})
        if request.method == "GET" and request.path in PAGES:
            package, name, kind = PAGES[request.path]
            body = (resources.files(package) / "static" / name).read_bytes()
            return Response(200, body, kind)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), admin_token):
            raise HttpError(401, "wrong_token", "send Authorization: Bearer <console admin token>")
        if request.path == "/api/venues":
            return Response.json(await console.db.venues())
        match = _PATH.match(request.path)
        if match is None:
            raise HttpError(404, "not_found", f"no such endpoint: {request.path}")
        venue = match["venue"]
        if venue not in await console.db.venues():
            raise HttpError(404, "unknown_venue", f"no venue {venue!r} at this console")
        for method, what, route in TABLE:
            if what == match["what"]:
                if method != request.method:
                    raise HttpError(405, "method_not_allowed", f"{request.path} takes {method}")
                try:
                    return Response.json(_jsonable(await route(console, venue, request)))
                except UnknownRecord as exc:
                    raise HttpError(404, exc.code, exc.message) from None
                except DomainError as exc:
                    raise HttpError(422, exc.code, exc.message) from None
        raise HttpError(404, "not_found", f"no such endpoint: {request.path}")

    return handle
