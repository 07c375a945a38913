"""The node itself: health, sync status, and Clear cache (re-pull console-authored documents).

Clear cache is refused while anything written here is not at the console yet, or while the console cannot
be reached: re-pulling must never lose a sale nor leave a register without a catalog. ``NodeAPI.clear_cache``
decides; this module turns its refusal into 409 ``clear_cache_refused`` with the reason, for the page.

From the page, clearing needs :data:`CLEAR_CACHE_RIGHT`: it drops the register's catalog until the console's
comes back (the register sells nothing meanwhile, and a slow uplink makes that long), so any signed-in
user, a cook too, could stop the till at will, again and again (red, fifteenth session). The API token
(``meshpos clear-cache``) stays full trust.
"""

from __future__ import annotations

from meshpos.errors import ClearCacheRefused
from meshpos.httpapi.routes import Route
from meshpos.httpapi.server import HttpError
from meshpos.node_status import NodeStatus
from meshpos.web.routes import Call
from meshpos.web.views import Done, Health

CLEAR_CACHE_RIGHT = "end_day"
"""A manager's right. Not a right of its own: every existing venue's manager role would lack one until
edited at the console, and an N−1 console's role editor refuses a right it does not know
(``Catalog.put_role``)."""


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
        description=(
            "409 clear_cache_refused says why (the page shows it). With the page's token the "
            f"signed-in user needs the {CLEAR_CACHE_RIGHT} right (403 permission_denied)."
        ),
        page_right=CLEAR_CACHE_RIGHT,
    ),
)
