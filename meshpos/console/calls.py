"""What every console route's handler gets (``ConsoleCall``), shared by the route tables of api.py,
api_catalog.py and api_reports.py, so each table imports it without importing the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshpos.console.server import ConsoleServer
from meshpos.httpapi.server import Request

VENUE = "/api/venues/{venue}"  # every per-venue route's path starts so
CONSOLE_USER = "console"  # who a console edit is by when the request names nobody


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
