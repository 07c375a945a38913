"""The node itself: health, sync status, and Clear cache (re-pull console-authored documents).

Clear cache is refused while anything written here is not at the console yet, because re-pulling must never
lose a sale. The Node's own ``clear_cache`` makes that decision when it exists; until then this module
refuses on the status alone and otherwise says the feature is not available on this node.
"""

from __future__ import annotations

import inspect

from meshpos.errors import MeshposError, StoreError
from meshpos.node_status import NodeStatus
from meshpos.web.http import HttpError
from meshpos.web.routes import Call, Route
from meshpos.web.views import Done, Health


async def health(c: Call) -> Health:
    return Health(True, c.node.config.node_id)


async def status(c: Call) -> NodeStatus:
    return c.node.status()


async def clear_cache(c: Call) -> Done:
    clear = getattr(c.node, "clear_cache", None)
    if clear is None:
        current = c.node.status()
        if current.pending or current.colour != "green":
            raise HttpError(409, "clear_cache_refused", refusal(current))
        raise HttpError(501, "not_available", "this node's version cannot clear its cache")
    try:
        result = clear()
        if inspect.isawaitable(result):
            await result
    except StoreError:
        raise
    except MeshposError as exc:
        code = "clear_cache_refused" if exc.code == MeshposError.code else exc.code
        raise HttpError(409, code, exc.message) from None
    return Done(True, "Cache cleared: the console's documents are pulled again")


def refusal(current: NodeStatus) -> str:
    reasons = []
    if current.pending:
        reasons.append(
            f"{current.pending:,} change(s) made here are not at the console yet and could be lost; "
            "wait until the indicator says “All data is synced”"
        )
    if current.colour != "green":
        reasons.append("the console cannot be reached from this node, so nothing can be re-pulled")
    return "Clear cache refused: " + "; ".join(reasons) + "."


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
        description="409 clear_cache_refused says why; 501 not_available on nodes without the feature.",
    ),
)
