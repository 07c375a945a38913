"""What a console route's handler gets (``ConsoleCall``), shared by the route modules.

Its own module so that ``api`` (the shell: auth, errors, the OpenAPI document) imports the route tables of
``api_catalog`` and the reports' module, and they import this, not ``api``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from meshpos.console.server import ConsoleServer
from meshpos.console.venue_docs import stored_venue
from meshpos.httpapi.routes import Route
from meshpos.httpapi.server import PAGE_SECURITY, Request, Response
from meshpos.model import Venue

VENUE = "/api/venues/{venue}"  # the path prefix of every per-venue route
CONSOLE_USER = "console"  # who a console write is by: the admin token names no person


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

    @property
    def who(self) -> str:
        """The console user a write is audited under (today only the admin token's holder)."""
        return CONSOLE_USER


async def current_venue(console: ConsoleServer, venue_id: str) -> Venue:
    """The venue's documents: the loaded hub's, else as the database holds them (no hub loads)."""
    hub = console.hubs.get(venue_id)
    return hub.venue if hub is not None else await stored_venue(console.db, venue_id)


def shown_name(venue: Venue, venue_id: str, given: Mapping[str, str]) -> str:
    """The name a person knows a venue by, wherever the console shows it (the page's header, a chain's
    list of venues): its settings' name once set in the Settings tab, else the one ``venue init``
    gave (``given``: the console database's names by venue id), else its id."""
    return venue.catalog.settings().name or given.get(venue_id, venue_id)


def page(path: str, package: str, name: str, content_type: str) -> Route:
    """A static file of ``package`` (its ``static`` folder) served without the token: a page or script."""

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
