"""The console's JSON API for people's pages and scripts (admin token): reports, sync status, edits.

Reports come from the relational tables (what was materialised); sync status from the live hubs. Edits
(products, prices, stop list) run through the model's rules on the console's replica of the venue and flow
down to every register through the relay.

One route table (``Route`` and ``Field`` from meshpos.httpapi, as the node's API) validates every request and
writes the OpenAPI document served at ``/api/openapi.json``: every value the console accepts is bounded by
meshpos.model.limits before it reaches a document, because a value a register cannot read back (a price of
2**62, a lone surrogate) would stop every register of the venue from selling. A refused request is 400 with
``{"error": {"code", "message"}}`` naming the field, and changes nothing.

The admin token is kept in the file ``meshpos console --token-file`` names (it says which at start); the
page asks for it with its own sign-in form and keeps it in the browser tab's sessionStorage, sending it as
``Authorization: Bearer``: the API reads no cookie, so a request another site makes a browser send carries
no token (console.js says why not localStorage either).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

from meshpos.console.api_catalog import CATALOG_ROUTES
from meshpos.console.api_metrics import METRICS_ROUTES
from meshpos.console.api_reports import REPORT_ROUTES
from meshpos.console.calls import VENUE, ConsoleCall, current_venue, page, shown_name
from meshpos.console.health import write_problem
from meshpos.console.server import ConsoleServer
from meshpos.errors import CorruptRecord, DomainError, InvalidInput, MeshposError, UnknownRecord
from meshpos.httpapi.openapi import document_route
from meshpos.httpapi.routes import Route, match
from meshpos.httpapi.schema import MONEY_NOTE, to_json
from meshpos.httpapi.server import Handler, HttpError, Request, Response

# --- reports ----------------------------------------------------------------------------------------


async def health(c: ConsoleCall) -> dict[str, bool]:
    """``ok``, or 503 naming why the console's database refuses writes (console/health.py)."""
    if problem := await write_problem(c.console.db):
        raise HttpError(503, "store_error", f"the console's database refuses writes: {problem}")
    return {"ok": True}


async def venues(c: ConsoleCall) -> list[str]:
    return await c.console.db.venues()


@dataclass(frozen=True, slots=True)
class VenueSummary:
    """What the page's header shows of a venue."""

    id: str
    name: str  # calls.shown_name: its settings' name once set, else the name ``venue init`` gave
    currency: str  # ISO 4217: the page formats money (minor units) in it
    timezone: str  # IANA: the page shows moments on the venue's clock, as its reports count hours
    # the venue's business day now (its clock, its cut-off, a day ended early): where the reports'
    # range ends unless a person picks one; the browser's own day is another venue's or none
    business_day: str


async def venue_summary(c: ConsoleCall) -> VenueSummary:
    venue = await current_venue(c.console, c.venue)
    name = shown_name(venue, c.venue, await c.console.db.venue_names())
    settings = venue.catalog.settings()
    today = venue.business_date(int(time.time() * 1000))
    return VenueSummary(c.venue, name, settings.currency, settings.timezone, today)


async def console_status(c: ConsoleCall) -> dict[str, Any]:
    """This process: the venues it has loaded (a relay connected, an edit) and its counters."""
    return {
        "venues": len(await c.console.db.venues()),
        "loaded": sorted(c.console.hubs),
        "venue_idle_seconds": c.console.venue_idle_seconds,
        "counters": dict(c.console.counters),
    }


# --- the route table --------------------------------------------------------------------------------


BASE_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/health",
        health,
        "Whether the console answers and its database takes writes (503 store_error: why not)",
        dict[str, bool],
        auth=False,
        tag="system",
    ),
    # the reports page shares the register pages' stylesheet (meshpos/web/static/app.css)
    page("/", "meshpos.console", "console.html", "text/html; charset=utf-8"),
    page("/static/console.js", "meshpos.console", "console.js", "text/javascript; charset=utf-8"),
    page("/static/app.css", "meshpos.web", "app.css", "text/css; charset=utf-8"),
    page("/static/console.css", "meshpos.console", "console.css", "text/css; charset=utf-8"),
    page(
        "/static/console_reports.js",
        "meshpos.console",
        "console_reports.js",
        "text/javascript; charset=utf-8",
    ),
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
        "The venue's name, currency, time zone and business day now (the page's header, the reports' range)",
        VenueSummary,
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
)

ERRORS = {
    400: "Bad JSON, or a missing, unknown, wrongly typed or out-of-bounds field (bad_json, "
    "missing_field, unknown_field, bad_field, unexpected_body, bad_request, invalid_input), a "
    "CSV menu refused, naming its line and column (bad_csv)",
    401: "No admin token or a wrong one (wrong_token)",
    403: "The metrics token sent to anything but GET /metrics (metrics_token)",
    404: "An unknown venue (unknown_venue) or receipt (unknown_receipt) or, in an edit, an unknown "
    "product (unknown_product) or another unknown entity of the catalog (unknown_record)",
    413: "The request body is over 256 KiB (too_large)",
    409: "An edit of a product whose stored record is unreadable (record_unusable): replace it whole",
    422: "A value breaks a rule of the catalog, e.g. deleting a tax a product still uses "
    "(domain_error), or a report's range of days is not one (bad_range: reversed, too long, a "
    "day not on the calendar)",
    503: "The console's database cannot write now (store_error)",
}

INTRO = f"""\
The JSON API of a meshpos console: reports of what the venues' registers uploaded, sync status, and the
catalog edits that flow down to every register through the venue's relay.

* **Money** is always an integer number of **minor units** (cents): {MONEY_NOTE}.
* **Authentication**: `Authorization: Bearer <console admin token>` (`meshpos console --token-file`);
  `GET /metrics` also takes the read-only metrics token (`--metrics-token-file`).
* **Bounds**: every value has the bounds in its schema; anything else is refused with 400 and nothing is
  stored.
* **Errors**: `{{"error": {{"code", "message"}}}}`. Clients branch on `code`, which is stable; `message` is
  for people and names the field.
"""


class ConsoleApi:
    """``metrics_token`` (empty: none) reads ``GET /metrics`` and nothing else: what a Prometheus
    scraper is given, so the admin token, which edits the menu and staff, stays off its host."""

    def __init__(self, console: ConsoleServer, admin_token: str, metrics_token: str = "") -> None:
        self.console = console
        self.admin_token = admin_token
        self.metrics_token = metrics_token
        self.routes: tuple[Route, ...] = (
            *BASE_ROUTES,
            *CATALOG_ROUTES,
            *REPORT_ROUTES,
            *METRICS_ROUTES,
            document_route(
                lambda: self.routes, title="meshpos console API", intro=INTRO, errors=ERRORS
            ),
        )

    async def handle(self, request: Request) -> Response:
        route, params = match(self.routes, request)
        if route.auth:
            self._authorise(request, route)
        try:
            known = "venue" not in params or params["venue"] in await self.console.db.venues()
        except MeshposError as exc:  # the database is gone: not the caller's fault
            raise _unavailable(exc) from None
        if not known:
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
            raise _unavailable(exc) from None
        if isinstance(result, Response):
            return result
        return Response.json(to_json(result), route.status)

    def _authorise(self, request: Request, route: Route) -> None:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        token = sent.strip().encode() if scheme.lower() == "bearer" else b""
        if hmac.compare_digest(token, self.admin_token.encode()):
            return
        if self.metrics_token and hmac.compare_digest(token, self.metrics_token.encode()):
            if route in METRICS_ROUTES:
                return
            raise HttpError(
                403,
                "metrics_token",
                "the metrics token reads GET /metrics only: send the console admin token",
            )
        raise HttpError(401, "wrong_token", "send Authorization: Bearer <console admin token>")


def _unavailable(exc: MeshposError) -> HttpError:
    return HttpError(503, exc.code, f"the console cannot answer now: {exc.message}")


def make_console_handler(
    console: ConsoleServer, admin_token: str, metrics_token: str = ""
) -> Handler:
    return ConsoleApi(console, admin_token, metrics_token).handle
