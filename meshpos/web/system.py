"""The node itself: health, sync status, and Clear cache (re-pull console-authored documents).

Clear cache is refused while anything written here is not at the console yet, or while the console cannot
be reached: re-pulling must never lose a sale nor leave a register without a catalog. ``NodeAPI.clear_cache``
decides; this module turns its refusal into 409 ``clear_cache_refused`` with the reason, for the page.
"""

from __future__ import annotations

from meshpos.errors import ClearCacheRefused
from meshpos.node_status import NodeStatus
from meshpos.web.http import HttpError
from meshpos.web.routes import Call, Route
from meshpos.web.views import Done, Health


async def health(c: Call) -> Health:
    return Health(True, c.node.node_id)


async def status(c: Call) -> NodeStatus:
    return c.node.status()


async def clear_cache(c: Call) -> Done:
    try:
        dropped = await c.node.clear_cache()
    except ClearCacheRefused as exc:
        raise HttpError(409, exc.code, f"Clear cache refused: {exc.message}.") from None
    return Done(True, f"Cache cleared: {', '.join(dropped)} pulled again from the console")


ROUTES = (
    Route("GET", "/health", health, "Liveness", Health, auth=False, tag="system"),
    Route(
        "GET",
        "/status",
        status,
        "Sync status for `meshpos status` (no token: it holds no sales data)",
        NodeStatus,
        auth=False,
        tag="system",
        operation="status_for_cli",
    ),
    Route(
        "GET",
        "/api/status",
        status,
        "Sync status: colour (green / yellow / gray), pending changes, peers, relay",
        NodeStatus,
        tag="system",
    ),
    Route(
        "POST",
        "/api/clear-cache",
        clear_cache,
        "Re-pull the console's documents; refused (409) while local changes are not at the console",
        Done,
        tag="system",
        description="409 clear_cache_refused says why (the page shows it).",
    ),
)
