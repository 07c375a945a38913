"""What a console route's handler gets (``ConsoleCall``), shared by the route modules.

Its own module so that ``api`` (the shell: auth, errors, the OpenAPI document) imports the route tables of
``api_catalog`` and the reports' module, and they import this, not ``api``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from meshpos.console.server import ConsoleServer
from meshpos.httpapi.routes import Route
from meshpos.httpapi.server import PAGE_SECURITY, Request, Response

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
