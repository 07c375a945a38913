"""Every field of every writing route of a real `meshpos console`, each given hostile JSON (lone
surrogates, NUL, C1, nesting deep enough to reach the parser's limit, numbers past every bound, the wrong
type, 100,000 characters): each answer is a 4xx whose JSON body names the error, nothing is written (the
venue's audit log and catalog are unchanged) and no traceback is logged. The table is read from the
console's own routes. Holds on main: a guard (the same route machinery as the node's)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from meshpos.console.api import BASE_ROUTES
from meshpos.console.api_catalog import CATALOG_ROUTES
from meshpos.console.api_metrics import METRICS_ROUTES
from meshpos.console.api_reports import REPORT_ROUTES

from ..mesh.kit import ConsoleProcess, make_venue
from ..web.kit import http
from ..web.test_hostile_every_field import HOSTILE


async def _state(base: str, auth: dict[str, str], venue: str) -> tuple[Any, ...]:
    async def get(path: str) -> Any:
        answer = await http(base, "GET", path, headers=auth)
        assert answer.status == 200, (path, answer.status, answer.body[:200])
        return json.loads(answer.body)

    return (
        await get(f"/api/venues/{venue}/audit"),
        await get(f"/api/venues/{venue}/catalog"),
    )


async def test_hostile_json_in_every_field_of_every_console_write_is_a_named_4xx(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory])
    await asyncio.to_thread(console.start)
    try:
        base = str(console.ready["api"])
        token = (tmp_path / "console-admin.token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        venue = authority.venue_id
        before = await _state(base, auth, venue)
        writes = [
            (r.method, r.path, f.name)
            for r in (*BASE_ROUTES, *CATALOG_ROUTES, *REPORT_ROUTES, *METRICS_ROUTES)
            for f in r.body
        ]
        assert len(writes) > 40  # the table was read
        bad: list[str] = []
        for method, template, name in writes:
            path = re.sub(
                r"\{([a-z_]+)\}", lambda m: venue if m.group(1) == "venue" else "x", template
            )
            for value in HOSTILE:
                raw = b"{" + json.dumps(name).encode() + b": " + value + b"}"
                answer = await http(base, method, path, raw=raw, headers=auth)
                try:
                    error = answer.json()["error"]
                    named = bool(error["code"]) and bool(error["message"])
                except (ValueError, KeyError, TypeError):
                    named = False
                if not (400 <= answer.status < 500 and named):
                    bad.append(f"{method} {template} {name}={value[:20]!r}: {answer.status}")
        assert bad == []
        assert await _state(base, auth, venue) == before
    finally:
        await asyncio.to_thread(console.stop)
    log = (tmp_path / "console.log").read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log
