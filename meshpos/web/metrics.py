"""The node's ``GET /metrics``: its status and commits in the Prometheus text format
(docs/architecture.md (Operations)). Open like ``/status`` (no token: it holds no sales data, only counts); the local API listens
on ``api_host``, 127.0.0.1 unless the node's config names a LAN address for a scraper to reach."""

from __future__ import annotations

from meshpos.httpapi.routes import Route
from meshpos.httpapi.server import Response
from meshpos.ops.metrics import CONTENT_TYPE
from meshpos.web.routes import Call


async def metrics(c: Call) -> Response:
    return Response(200, c.node.metrics.render(c.node.status(), c.node.venue_id), CONTENT_TYPE)


ROUTES = (
    Route(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics: colour, pending by device and kind, peers, relay, refusals, commits",
        auth=False,
        tag="system",
        content_type=CONTENT_TYPE,
        description="The Prometheus text format; docs/alerts.yml holds ready-made alert rules.",
    ),
)
