"""The console's ``GET /metrics`` (Prometheus text; the admin token or the read-only metrics token,
``--metrics-token-file``): per venue, when it was last heard,
its newest uploaded record, what its devices say is pending, its alarms, when the console's signing
key of it ends
(docs/architecture.md (Operations)).

Read like the venue status (``api_reports.venue_status``): from the live hubs and the database, so no venue
loads for a scrape; a venue whose relay is linked to another console process is seen through the
sightings they share.
"""

from __future__ import annotations

import time

from meshpos.console.calls import ConsoleCall
from meshpos.console.server import SHARED_FRESH_S
from meshpos.httpapi.routes import Route
from meshpos.httpapi.server import Response
from meshpos.ops.metrics import (
    CONTENT_TYPE,
    ConsoleFigures,
    VenueFigures,
    console_families,
    render,
)


async def venue_figures(c: ConsoleCall, venue: str, now: float) -> VenueFigures:
    console, db = c.console, c.console.db
    hub = console.hubs.get(venue)
    stored = await db.register_report(venue)
    shared = await console.shared_sightings(venue)
    presence = hub.sync.presence if hub is not None else {}
    devices = console.device_view(venue).report(presence, stored, now, shared, SHARED_FRESH_S)
    reachable = [d for d in devices.values() if d["reachable"]]
    heard = [now - d["last_heard_s"] for d in devices.values() if d["last_heard_s"] is not None]
    heard += list(hub.last_seen.values()) if hub is not None else []
    records = [int(r["last_record_ms"]) / 1000 for r in stored if r["last_record_ms"] is not None]
    pending = [int(d["pending"]) for d in reachable if d["pending"] is not None]
    unknown = sum(1 for d in reachable if d["pending"] is None)  # (beyond the links: told only)
    told = [
        int(d["pending_told"])
        for d in reachable
        if d["pending"] is None and d["pending_told"] is not None
    ]
    unreported = await db.unreported(venue)
    signing = console.signers.get(venue)
    return VenueFigures(
        venue=venue,
        relay_connected=any(d["relay"] for d in reachable),
        devices_known=len(devices),
        devices_reachable=len(reachable),
        last_seen=max(heard, default=None),
        last_record=max(records, default=None),
        receipts=sum(int(r["receipts"]) for r in stored),
        pending=sum(pending) if pending else None,
        alarms=len(await db.alarms(venue)),
        not_in_reports=sum(n for n, _ in unreported.values()),
        pending_unknown=unknown,
        pending_told=sum(told) if told else None,
        signing_ends=None if signing is None else signing.expires.timestamp(),
    )


async def metrics(c: ConsoleCall) -> Response:
    now = time.time()
    venues = [await venue_figures(c, venue, now) for venue in await c.console.db.venues()]
    figures = ConsoleFigures(
        venues,
        loaded=len(c.console.hubs),
        refusals=dict(c.console.refusals),
        counters=dict(c.console.counters),
    )
    return Response(200, render(console_families(figures)), CONTENT_TYPE)


METRICS_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics: per venue last heard, newest record, pending, alarms (admin token, "
        "or the metrics token)",
        tag="system",
        content_type=CONTENT_TYPE,
        description=(
            "The Prometheus text format; docs/alerts.yml holds ready-made alert rules. A scraper "
            "sends the metrics token (`meshpos console --metrics-token-file`, by default "
            "`console-metrics.token` beside the admin token), which reads this and nothing else "
            "(403 metrics_token elsewhere)."
        ),
    ),
)
