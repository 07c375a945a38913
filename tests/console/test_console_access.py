"""Access to the console (issue 16): ``--host`` takes any address of this machine and refuses others in
words; the start-up line names the admin token file; ``GET /api/venues/{venue}`` gives the page's header the
venue's name (SQLite and PostgreSQL); pages carry the pages' security headers; the OpenAPI document is at
``/api/openapi.json`` and lists exactly the table that answers.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshpos.console.api import ConsoleApi
from meshpos.console.db import open_console_db
from meshpos.console.runner import check_host, register_venues
from meshpos.console.server import ConsoleServer
from meshpos.errors import ConfigError
from meshpos.httpapi.server import PAGE_SECURITY, HttpServer
from meshpos.listen_check import machine_addresses
from meshpos.model.venue_base import business_date
from meshpos.trust import init_venue

from ..relay.consoles import SETTLE_S
from ..web.kit import Client, http

TOKEN = "console-admin-token-for-tests"
VENUE_NAME = "Café Central"


def _not_here() -> str:
    """An IPv4 address (TEST-NET-2, never routed) that this machine does not have."""
    have = set(machine_addresses())
    return next(
        str(a) for a in ipaddress.ip_network("198.51.100.0/24").hosts() if str(a) not in have
    )


def test_any_address_of_this_machine_is_taken() -> None:
    assert check_host("127.0.0.2") == "127.0.0.2"  # all of 127.0.0.0/8 is this machine's
    assert check_host("0.0.0.0") == "0.0.0.0"
    for address in machine_addresses():
        if ipaddress.ip_address(address).version == 4:  # IPv6 link-local needs a scope
            assert check_host(address) == address


def test_an_address_of_another_machine_is_refused_with_this_machines_addresses() -> None:
    other = _not_here()
    with pytest.raises(ConfigError) as refused:
        check_host(other)
    assert other in refused.value.message
    assert "not an address of this machine" in refused.value.message
    assert "127.0.0.1" in refused.value.message  # it lists the machine's addresses
    with pytest.raises(ConfigError, match="not an IP address"):
        check_host("console.example")


def test_meshpos_console_refuses_another_machines_address_before_opening_anything(
    tmp_path: Path,
) -> None:
    other = _not_here()
    done = subprocess.run(
        [sys.executable, "-m", "meshpos", "console", "--host", other,
         "--db", f"sqlite:///{tmp_path / 'console.db'}",
         "--token-file", str(tmp_path / "console-admin.token")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"--host {other!r}: not an address of this machine" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "console.db").exists()
    assert not (tmp_path / "console-admin.token").exists()


@pytest.fixture
async def console_api(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Client, str]]:
    authority = init_venue(tmp_path / "venue", VENUE_NAME)
    db = await open_console_db(db_url)
    try:
        await register_venues(db, [authority.directory])
        server = ConsoleServer(db, "127.0.0.1", 0)
        await server.start()
        api = HttpServer(ConsoleApi(server, TOKEN).handle, "127.0.0.1", 0)
        await api.start()
        try:
            base = f"http://127.0.0.1:{api.port}"
            doc = await Client(base, "").ok("GET", "/api/openapi.json")
            yield Client(base, TOKEN, doc), authority.venue_id
        finally:
            await api.stop()
            await server.stop(settle_within=SETTLE_S)
    finally:
        await db.close()


def days_now(zone: str, cutoff_hour: int) -> set[str]:
    """The venue's business day now, either side of a call that may cross its cut-off."""
    now = int(time.time() * 1000)
    return {business_date(now + d, zone, cutoff_hour) for d in (-60_000, 0, 60_000)}


async def test_the_venue_summary_names_the_venue(console_api: tuple[Client, str]) -> None:
    client, venue = console_api
    summary = await client.ok("GET", f"/api/venues/{venue}")
    default = {"id": venue, "name": VENUE_NAME, "currency": "EUR", "timezone": "UTC"}
    assert summary.pop("business_day") in days_now("UTC", 4)
    assert summary == default  # the default settings
    # a chain's list of venues names each as its header does
    assert await client.ok("GET", "/api/chain") == [{"id": venue, "name": VENUE_NAME}]
    await client.error(404, "unknown_venue", "GET", "/api/venues/no-such-venue")
    settings = {"name": "Café Central, Terrasse", "currency": "CHF", "timezone": "Europe/Zurich",
                "day_cutoff_hour": 4}  # fmt: skip
    await client.ok("POST", f"/api/venues/{venue}/settings", settings)
    renamed = await client.ok("GET", f"/api/venues/{venue}")
    # the reports' range ends on the venue's business day, on its clock (not the console machine's)
    assert renamed.pop("business_day") in days_now("Europe/Zurich", 4)
    assert renamed == {
        "id": venue,
        "name": settings["name"],
        "currency": "CHF",
        "timezone": "Europe/Zurich",
    }
    assert await client.ok("GET", "/api/chain") == [{"id": venue, "name": settings["name"]}]
    await Client(client.base, "wrong-token").error(
        401, "wrong_token", "GET", f"/api/venues/{venue}"
    )


async def test_the_openapi_document_is_the_table_that_answers(
    console_api: tuple[Client, str],
) -> None:
    client, _ = console_api
    doc = await client.ok("GET", "/api/openapi.json")
    assert doc["info"]["title"] == "meshpos console API"
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert ("GET", "/api/openapi.json") in listed
    assert ("GET", "/api/venues/{venue}") in listed
    table = {(r.method, r.path) for r in ConsoleApi(None, TOKEN).routes}  # type: ignore[arg-type]
    assert listed == table


async def test_pages_carry_the_security_headers(console_api: tuple[Client, str]) -> None:
    client, _ = console_api
    for path in ("/", "/static/console.js", "/static/console.css", "/static/app.css"):
        answer = await http(client.base, "GET", path)
        assert answer.status == 200, path
        for header, value in PAGE_SECURITY.items():
            assert answer.headers.get(header.lower()) == value, (path, header)
